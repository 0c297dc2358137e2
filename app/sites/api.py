"""/api/v1/sites: the hydrophones, read by viewers, added and changed by operators (audited).

A site is never deleted (its windows and truth refer to it): `PATCH {"active": false}` stops its
ingest within INGEST_SITES_REFRESH_S and keeps its history.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api.args import json_object
from app.api.routes import Routes, json_body, param
from app.web.auth import current_user_id
from app.web.extensions import db
from oceanwatch.sites import store
from oceanwatch.sites.spec import SITE_ID as SITE_ID_PATTERN

routes = Routes()
SITE_ID = param("site_id", "path", "site id", {"type": "string"})
_NUMBER, _OPTIONAL_NUMBER = {"type": "number"}, {"type": "number", "nullable": True}
SITE_SCHEMA = {  # OpenAPI 3.0 of oceanwatch.sites.spec.SiteFields (a test keeps the two in step)
    "properties": {
        "id": {"type": "string", "pattern": SITE_ID_PATTERN},
        "name": {"type": "string"},
        "latitude": _NUMBER,
        "longitude": _NUMBER,
        "depth_m": _OPTIONAL_NUMBER,
        "channels": {"type": "integer", "minimum": 1},
        "sample_rate": {"type": "integer", "nullable": True},
        "sensitivity_db": {**_OPTIONAL_NUMBER, "description": "dB re 1 V/uPa"},
        "source": {
            "nullable": True,
            "description": "null: the INGEST_* settings",
            "oneOf": [
                {"type": "object", "properties": {"kind": {"type": "string", "enum": ["simulator"]}}},
                {
                    "type": "object",
                    "required": ["kind", "path"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["directory"]},
                        "path": {"type": "string"},
                        "pattern": {"type": "string", "description": "regex with a group ts"},
                        "time_format": {"type": "string"},
                        "align": {"type": "string", "enum": ["grid", "file"]},
                        "quarantine_dir": {"type": "string"},
                        "archive_dir": {"type": "string"},
                    },
                },
            ],
        },
        "active": {"type": "boolean"},
        "description": {"type": "string"},
    },
}


@routes.route("/sites", "GET", "viewer", "Every site (hydrophone), active or not")
def list_sites() -> Any:
    return jsonify(sites=[store.site_dict(s) for s in store.list_sites(db.session)])


@routes.route("/sites/<site_id>", "GET", "viewer", "One site", parameters=[SITE_ID], responses={"404": "no such site"})
def get_site(site_id: str) -> Any:
    return jsonify(store.site_dict(store.get_site(db.session, site_id)))


@routes.route(
    "/sites",
    "POST",
    "operator",
    "Add a site; ingest starts serving it (if active) within INGEST_SITES_REFRESH_S",
    request_body=json_body({**SITE_SCHEMA, "required": ["id", "name", "latitude", "longitude"]}),
    responses={"201": "added", "400": "invalid site (every problem named) or the id is taken"},
)
def create_site() -> Any:
    body = json_object()
    site = store.create_site(db.session, body.pop("id", None), body, current_user_id())
    db.session.commit()
    return jsonify(store.site_dict(site)), 201


@routes.route(
    "/sites/<site_id>",
    "PATCH",
    "operator",
    "Change some of a site's fields (`active: false` deactivates it); the id cannot change",
    parameters=[SITE_ID],
    request_body=json_body(SITE_SCHEMA),
    responses={"400": "invalid change", "404": "no such site"},
)
def update_site(site_id: str) -> Any:
    site = store.update_site(db.session, site_id, json_object(), current_user_id())
    db.session.commit()
    return jsonify(store.site_dict(site))
