"""Downloads for training elsewhere: a labelled dataset (spectrograms + CSV manifest) and model packages.

Both are zips written to a temporary file and streamed from there, so memory stays flat
however many windows an export holds; the dataset query streams rows from Postgres too.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from flask import current_app, jsonify, request, send_file
from sqlalchemy import text

from app.api.args import parse_site, radius_arg, time_range
from app.api.routes import MODEL_ID, SITE, TIME_PARAMS, Routes, param
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.db.models import MLModel
from oceanwatch.messages import PackedArray
from oceanwatch.registry.store import sha256_file

routes = Routes()
MANIFEST_COLUMNS = [
    "window_id",
    "hydrophone_id",
    "start_time",
    "end_time",
    "spec_hash",
    "file",
    "label",
    "label_source",
    "ambiguous",
    "radius_km",
]

# Effective label: a person's label wins over AIS truth (and is never ambiguous), as in scoring.
_DATASET_SQL = """
    select w.id, w.hydrophone_id, w.start_time, w.end_time, s.spec_hash, s.dtype, s.shape, s.data,
           coalesce(h.classes, t.classes)::text[] as label,
           case when h.window_id is not null then 'human' when t.window_id is not null then 'ais' end as source,
           (h.window_id is null and coalesce(t.ambiguous, false)) as ambiguous
    from windows w
    join spectrograms s on s.window_id = w.id
    left join human_labels h on h.window_id = w.id
    left join truth_labels t on t.window_id = w.id and t.radius_km = :radius
    where w.start_time >= :start and w.start_time <= :end and (h.window_id is not null or t.window_id is not null)
      and (cast(:spec_hash as text) is null or s.spec_hash = :spec_hash)
      and (cast(:site as text) is null or w.hydrophone_id = :site)
    order by w.start_time, w.id, s.spec_hash
    limit :limit"""


def write_dataset(out: Any, rows: Any, radius_km: int) -> int:
    """Write the zip: spectrograms/<window>_<spec>.npy and manifest.csv; returns the number of rows."""
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_COLUMNS)
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            name = f"spectrograms/{row.id}_{row.spec_hash}.npy"
            array = PackedArray(row.dtype, tuple(row.shape), bytes(row.data)).unpack()
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(name, buffer.getvalue())
            writer.writerow(
                [
                    row.id,
                    row.hydrophone_id,
                    row.start_time.isoformat(),
                    row.end_time.isoformat(),
                    row.spec_hash,
                    name,
                    "+".join(row.label or []),
                    row.source,
                    str(bool(row.ambiguous)).lower(),
                    radius_km,
                ]
            )
            count += 1
        archive.writestr("manifest.csv", manifest.getvalue())
    return count


@routes.route(
    "/export",
    "GET",
    "viewer",
    "A labelled dataset: spectrograms (.npy) and a CSV manifest in a zip",
    parameters=[
        *TIME_PARAMS,
        param("radius_km", "query", "truth radius of the AIS labels", {"type": "integer", "default": 20}),
        param("spec_hash", "query", "only this feature spec", {"type": "string"}),
        SITE,
        param("format", "query", "manifest format", {"type": "string", "enum": ["csv"], "default": "csv"}),
    ],
    responses={"400": "bad parameter"},
)
def export_dataset() -> Any:
    start, end, limit = time_range()
    if request.args.get("format", "csv") != "csv":
        raise InputError("format: csv (the only manifest format)")
    radius = radius_arg(current_app.config["OCEANWATCH_SETTINGS"].truth.radii_km)
    rows = db.session.execute(
        text(_DATASET_SQL).execution_options(yield_per=256),
        {
            "start": start,
            "end": end,
            "radius": radius,
            "limit": limit,
            "spec_hash": request.args.get("spec_hash") or None,
            "site": parse_site(request.args.get("site")),
        },
    )
    spool = tempfile.TemporaryFile()
    write_dataset(spool, rows, radius)
    spool.seek(0)
    name = f"oceanwatch-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}-r{radius}.zip"
    return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=name)


@routes.route(
    "/models/<int:model_id>/package",
    "GET",
    "viewer",
    "The model's package: model.keras + manifest.json (zip)",
    parameters=[MODEL_ID],
    responses={
        "404": "no such model or its artifact is missing",
        "409": "the stored artifact does not match the registry checksum",
    },
)
def model_package(model_id: int) -> Any:
    row = db.session.get(MLModel, model_id)
    if row is None:
        return jsonify(error=f"no model with id {model_id}"), 404
    artifact = Path(row.artifact_path)
    if not artifact.is_file():
        return jsonify(error=f"model {model_id}: the stored artifact is missing"), 404
    if sha256_file(artifact) != row.sha256:
        return jsonify(error=f"model {model_id}: the stored artifact does not match the registry checksum"), 409
    spool = tempfile.TemporaryFile()
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(artifact, "model.keras")
        archive.writestr("manifest.json", json.dumps(row.manifest, indent=2, sort_keys=True))
    spool.seek(0)
    return send_file(
        spool, mimetype="application/zip", as_attachment=True, download_name=f"{row.name}-{row.version}.zip"
    )
