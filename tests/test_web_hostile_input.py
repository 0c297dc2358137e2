"""Hostile input to /api/v1 answers a 4xx JSON error with the reason, never a 500 or an HTML page:
damaged, encrypted or oddly compressed zips and .keras archives, NUL bytes, dates Python cannot step
from, integers beyond bigint, JSON nested too deep."""

import io
import zipfile
from pathlib import Path

import pytest

from app import create_app
from oceanwatch.config import Settings
from tests.modelkit import manifest, tiny_model, write_package
from tests.webkit import make_token, make_user

pytestmark = pytest.mark.integration

LOCAL_FLAGS, LOCAL_METHOD, CENTRAL_FLAGS, CENTRAL_METHOD = 6, 8, 8, 10


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return write_package(tmp_path_factory.mktemp("pkg"), tiny_model(), manifest(name="hostile"))


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _patch(data: bytes, member: str, local: int, central: int, value: int) -> bytes:
    """Set a 2-byte field of `member` in both its local header and its central directory entry, as a
    zip tool writing that flag or method would."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        offset = archive.getinfo(member).header_offset
    buf[offset + local : offset + local + 2] = value.to_bytes(2, "little")
    at = buf.find(b"PK\x01\x02")
    while at != -1:
        length = int.from_bytes(buf[at + 28 : at + 30], "little")
        if buf[at + 46 : at + 46 + length] == member.encode():
            buf[at + central : at + central + 2] = value.to_bytes(2, "little")
        at = buf.find(b"PK\x01\x02", at + 4)
    return bytes(buf)


def _members(package: Path) -> dict[str, bytes]:
    return {
        "model.keras": (package / "model.keras").read_bytes(),
        "manifest.json": (package / "manifest.json").read_bytes(),
    }


def _bad_crc(package: Path) -> bytes:
    data = _zip(_members(package))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("manifest.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    return data[:start] + b"[" + data[start + 1 :]  # the stored '{' changed: the CRC no longer matches


def _keras_with(package: Path, config: bytes) -> bytes:
    with zipfile.ZipFile(package / "model.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return _zip({**members, "config.json": config})


def _package_upload(make):
    return lambda package: {"package": (io.BytesIO(make(package)), "package.zip")}


def _keras_upload(make):
    return lambda package: {
        "model": (io.BytesIO(make(package)), "model.keras"),
        "manifest": (io.BytesIO((package / "manifest.json").read_bytes()), "manifest.json"),
    }


UPLOADS = {
    "zip-bad-crc": (_package_upload(_bad_crc), "Bad CRC-32"),
    "zip-encrypted": (
        _package_upload(lambda p: _patch(_zip(_members(p)), "manifest.json", LOCAL_FLAGS, CENTRAL_FLAGS, 1)),
        "manifest.json is encrypted",
    ),
    "zip-unknown-method": (
        _package_upload(lambda p: _patch(_zip(_members(p)), "model.keras", LOCAL_METHOD, CENTRAL_METHOD, 99)),
        "compression method 99",
    ),
    "keras-encrypted-config": (
        _keras_upload(lambda p: _patch((p / "model.keras").read_bytes(), "config.json", LOCAL_FLAGS, CENTRAL_FLAGS, 1)),
        "config.json is encrypted",
    ),
    "keras-deep-config": (
        _keras_upload(lambda p: _keras_with(p, b"[" * 100_000 + b"]" * 100_000)),
        "config.json is nested too deeply",
    ),
    "keras-deep-but-parseable-config": (
        _keras_upload(lambda p: _keras_with(p, b"[" * 500 + b"]" * 500)),
        "config.json nests deeper than 100 levels",
    ),
}

REQUESTS = {
    "nul-hydrophone": ("GET", "/api/v1/windows?hydrophone_id=%00", None, "NUL"),
    "nul-kind": ("GET", "/api/v1/jobs?kind=%00", None, "NUL"),
    "nul-spec-hash": ("GET", "/api/v1/export?spec_hash=%00", None, "NUL"),
    "nul-class-code-path": ("PUT", "/api/v1/classes/ab%00", {"name": "x"}, "NUL"),
    "nul-class-code-body": ("PUT", "/api/v1/overrides/235000001", {"class_code": "\u0000"}, "NUL"),
    "year-1-end": ("GET", "/api/v1/windows?end=0001-01-01T00:00:00Z", None, "from 1970 to 2100"),
    "year-1-since": (
        "POST",
        "/api/v1/relabel/preview",
        {"action": "mapping", "ship_types": [70], "class_code": None, "since": "0001-01-01T00:00:00Z"},
        "from 1970 to 2100",
    ),
    "mmsi-1e30-body": (
        "POST",
        "/api/v1/relabel/preview",
        {"action": "override", "mmsi": 1e30, "class_code": None},
        "64-bit integer",
    ),
    "mmsi-huge-query": ("GET", "/api/v1/positions?mmsi=99999999999999999999", None, "64-bit integer"),
    "mmsi-huge-path": ("PUT", "/api/v1/overrides/99999999999999999999", {"class_code": "x"}, "64-bit integer"),
    "model-id-huge-query": ("GET", "/api/v1/predictions?model_id=99999999999999999999", None, "64-bit integer"),
    "deep-json-body": ("POST", "/api/v1/relabel/preview", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "unknown-route": ("GET", "/api/v1/no-such-thing", None, "not found"),
    "wrong-method": ("DELETE", "/api/v1/me", None, "not allowed"),
}


@pytest.fixture
def client_and_auth(settings: Settings):
    token = make_token(settings, make_user(settings, "admin", "admin"))
    return create_app(settings=settings).test_client(), {"Authorization": f"Bearer {token}"}


def _assert_json_refusal(response, reason: str) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    assert reason.lower() in response.json["error"].lower() + " ".join(response.json.get("problems", [])).lower(), (
        response.json
    )
    assert "<_io." not in response.get_data(as_text=True)


@pytest.mark.parametrize("case", list(UPLOADS))
def test_hostile_model_uploads_are_refused_as_json(client_and_auth, package: Path, case: str) -> None:
    client, auth = client_and_auth
    make, reason = UPLOADS[case]
    response = client.post("/api/v1/models", headers=auth, data=make(package), content_type="multipart/form-data")
    _assert_json_refusal(response, reason)


def test_a_nul_in_an_uploaded_file_name_is_refused(client_and_auth) -> None:
    client, auth = client_and_auth
    response = client.post(
        "/api/v1/predict?keep=true",
        headers=auth,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"RIFF"), "clip\x00.wav")},
    )
    _assert_json_refusal(response, "NUL")


@pytest.mark.parametrize("case", list(REQUESTS))
def test_hostile_parameters_are_refused_as_json(client_and_auth, case: str) -> None:
    client, auth = client_and_auth
    method, path, body, reason = REQUESTS[case]
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
    response = client.open(path, method=method, headers=auth, **({} if body is None else kwargs))
    _assert_json_refusal(response, reason)
