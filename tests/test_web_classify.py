"""Classify an uploaded clip: real WAV and FLAC files through real tiny registered models, bad files
refused with a reason, size limits, roles, kept uploads and the page."""

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sqlalchemy import select

from app import create_app
from oceanwatch.audio.features import compute_batch, grid_starts, window_hop_seconds
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AuditLog, Upload
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.registry.manifest import parse_manifest
from tests.modelkit import TINY_SPEC, runnable_model
from tests.webkit import csrf_token, logged_in, make_token, make_user

pytestmark = pytest.mark.integration


def audio(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t)[:, None] + 0.05 * rng.normal(size=(len(t), channels))
    return tone.astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings)


@pytest.fixture
def models(settings: Settings, tmp_path: Path) -> dict[str, int]:
    return {
        "mc": runnable_model(settings, tmp_path, "mc", passes=6),
        "plain": runnable_model(settings, tmp_path, "plain", method="none", passes=1),
        "idle": runnable_model(settings, tmp_path, "idle", deploy=False, method="none", passes=1),
    }


@pytest.fixture
def api(app, settings: Settings):
    token = make_token(settings, make_user(settings, "op", "operator"))
    client = app.test_client()
    return lambda data, name="clip.wav", **query: client.post(
        "/api/v1/predict",
        headers={"Authorization": f"Bearer {token}"},
        query_string=query,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def direct(settings: Settings, model_id: int, windows: np.ndarray, rate: int) -> np.ndarray:
    """The plain model's probabilities computed without the web app: features, then the runtime."""
    with session_scope(settings.database_url) as session:
        from oceanwatch.db.models import MLModel

        row = session.get(MLModel, model_id)
        model = LoadedModel.from_artifact(model_id, parse_manifest(row.manifest), Path(row.artifact_path))
    return model.predict(compute_batch(TINY_SPEC, windows, rate)).mean


def test_a_wav_clip_is_split_on_the_grid_and_every_active_model_answers(api, settings: Settings, models) -> None:
    rate, seconds = 8000, 7.0
    samples = audio(seconds, rate)
    response = api(encode(samples, rate, "WAV"))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["clip"]["duration_s"] == pytest.approx(seconds) and body["clip"]["sample_rate"] == rate
    assert body["upload_id"] is None
    assert {m["model_id"] for m in body["models"]} == {models["mc"], models["plain"]}  # active only
    starts = grid_starts(0.0, seconds, TINY_SPEC.window_seconds, window_hop_seconds(TINY_SPEC.window_seconds))
    by_id = {m["model_id"]: m for m in body["models"]}
    for entry in body["models"]:
        assert [w["start_s"] for w in entry["windows"]] == pytest.approx(starts)
        assert any("not classified" in n for n in entry["notes"])  # the uncovered tail is reported
        for w in entry["windows"]:
            assert sum(w["probabilities"]) == pytest.approx(1, abs=1e-5) and 0 <= w["entropy"] <= 1
            assert w["predicted"] == [entry["class_names"][int(np.argmax(w["probabilities"]))]]
        mean = np.mean([w["probabilities"] for w in entry["windows"]], axis=0)
        assert entry["summary"]["probabilities"] == pytest.approx(mean.tolist())
        assert entry["summary"]["predicted"] == [entry["class_names"][int(np.argmax(mean))]]
    assert all(w["epistemic"] is not None for w in by_id[models["mc"]]["windows"])
    assert all(w["epistemic"] is None for w in by_id[models["plain"]]["windows"])
    length = int(TINY_SPEC.window_seconds * rate)
    windows = np.stack([samples[int(round(s * rate)) : int(round(s * rate)) + length] for s in starts])
    expected = direct(settings, models["plain"], windows, rate)
    got = np.array([w["probabilities"] for w in by_id[models["plain"]]["windows"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_short_stereo_flac_is_zero_padded_and_one_named_model_answers(api, settings: Settings, models) -> None:
    rate = 16000
    samples = audio(2.7, rate, channels=2, seed=3)  # 90 % of the 3 s window, above the 80 % default
    response = api(encode(samples, rate, "FLAC", "PCM_16"), "clip.flac", model="plain")
    assert response.status_code == 200, response.json
    (entry,) = response.json["models"]
    assert entry["model_id"] == models["plain"] and response.json["clip"]["channels"] == 2
    assert len(entry["windows"]) == 1 and "zero-padded (10% of the window is padding)" in entry["notes"][0]
    assert entry["windows"][0]["padded_share"] == pytest.approx(0.1)
    decoded, _ = soundfile.read(io.BytesIO(encode(samples, rate, "FLAC", "PCM_16")), dtype="float32", always_2d=True)
    expected = direct(settings, models["plain"], decoded[None], rate)
    np.testing.assert_allclose(entry["windows"][0]["probabilities"], expected[0], atol=1e-5)
    idle = api(encode(samples, rate, "FLAC"), "clip.flac", model_id=models["idle"])  # not deployed: still usable
    assert idle.status_code == 200 and idle.json["models"][0]["status"] == "registered"
    assert not any("upsampled" in n for n in entry["notes"])
    low = api(encode(audio(3.0, 2000), 2000, "WAV"), model="plain").json["models"][0]
    assert any("upsampled" in n and "1000 Hz" in n for n in low["notes"])


def test_a_clip_mostly_padding_is_refused_for_the_models_whose_window_it_cannot_fill(
    api, app, settings: Settings, tmp_path: Path
) -> None:
    """Zero padding makes a model answer confidently about silence: a clip that fills less than
    CLASSIFY_MIN_AUDIO_SHARE of a model's window is refused for that model; models with a shorter window answer."""
    short = runnable_model(settings, tmp_path, "short")  # 3 s window
    long = runnable_model(settings, tmp_path, "long", spec=dataclasses.replace(TINY_SPEC, window_seconds=10.0))
    data = encode(audio(6.0, 8000), 8000, "WAV")
    response = api(data)
    assert response.status_code == 200, response.json
    by_id = {m["model_id"]: m for m in response.json["models"]}
    assert by_id[long]["error_kind"] == "clip" and "windows" not in by_id[long]
    assert by_id[long]["error"] == (
        "the clip is 6.0 s; model long v1 needs at least 8.0 s of real audio (80% of its 10-s window)"
    )
    assert len(by_id[short]["windows"]) == 2 and all(w["padded_share"] == 0 for w in by_id[short]["windows"])
    alone = api(data, model_id=long)
    assert alone.status_code == 400 and "needs at least 8.0 s of real audio" in alone.json["error"]
    tiny = api(encode(audio(1.0, 8000), 8000, "WAV"))  # fills no model's window well enough
    assert (
        tiny.status_code == 400
        and "model short v1 needs at least 2.4 s" in tiny.json["error"]
        and "model long v1 needs at least 8.0 s" in tiny.json["error"]
    )
    app.config["OCEANWATCH_SETTINGS"] = settings.updated(classify={"min_audio_share": 0.5})
    relaxed = api(data, model_id=long)
    assert relaxed.status_code == 200, relaxed.json
    (window,) = relaxed.json["models"][0]["windows"]
    assert window["padded_share"] == pytest.approx(0.4) and window["end_s"] == pytest.approx(6.0)

    operator = logged_in(app, settings, "operator")
    page = operator.post(
        "/classify/",
        data={"csrf_token": csrf_token(operator, "/classify/"), "file": (io.BytesIO(data), "six.wav")},
        content_type="multipart/form-data",
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'id="result-model-{long}"' in html and '<td class="padded">40 %</td>' in html
    assert '<td class="padded">0 %</td>' in html  # the short model's full windows
    app.config["OCEANWATCH_SETTINGS"] = settings
    page = operator.post(
        "/classify/",
        data={
            "csrf_token": csrf_token(operator, "/classify/"),
            "model_id": str(long),
            "file": (io.BytesIO(data), "six.wav"),
        },
        content_type="multipart/form-data",
    )
    assert page.status_code == 400
    assert (
        "the clip is 6.0 s; model long v1 needs at least 8.0 s of real audio (80% of its 10-s window)"
        in page.get_data(as_text=True)
    )


def test_kept_uploads_store_the_file_and_the_results(api, settings: Settings, models) -> None:
    data = encode(audio(4.0, 8000), 8000, "WAV")
    response = api(data, "keep me.wav", keep="true")
    assert response.status_code == 200
    upload_id = response.json["upload_id"]
    with session_scope(settings.database_url) as session:
        row = session.get(Upload, upload_id)
        audit = session.scalars(select(AuditLog.action).where(AuditLog.target_type == "upload")).all()
    assert row.filename == "keep me.wav" and row.results["models"] == response.json["models"]
    stored = Path(row.path)
    assert stored.is_relative_to((settings.data_dir / "uploads").resolve()) and stored.read_bytes() == data
    assert row.sha256 == response.json["clip"]["sha256"] and row.duration_s == pytest.approx(4.0)
    assert audit == ["upload.keep"]
    assert api(data).json["upload_id"] is None  # not kept unless asked


def _truncated_wav() -> bytes:
    return encode(audio(2.0, 8000), 8000, "WAV")[:30]


def _nan_wav() -> bytes:
    samples = audio(1.0, 8000)
    samples[100] = np.nan
    return encode(samples, 8000, "WAV", "FLOAT")


def _damaged_flac() -> bytes:
    """A FLAC with 2,000 bytes overwritten a third of the way in: its decoder loses sync there."""
    data = bytearray(encode(audio(8.0, 8000), 8000, "FLAC"))
    data[len(data) // 3 : len(data) // 3 + 2000] = bytes(2000)
    return bytes(data)


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("empty.wav", lambda: b"", "empty"),
        ("damaged.flac", _damaged_flac, "corrupt"),  # never classified from the part before the damage
        ("notes.wav", lambda: b"these are my notes, not audio\n" * 20, "not a readable WAV or FLAC"),
        ("truncated.wav", _truncated_wav, "not a readable WAV or FLAC"),
        ("random.flac", lambda: b"fLaC" + np.random.default_rng(1).bytes(3000), "not a readable WAV or FLAC"),
        ("nan.wav", _nan_wav, "NaN"),
        ("clip.aiff", lambda: encode(audio(1.0, 8000), 8000, "AIFF"), "not accepted"),
        ("long.wav", lambda: encode(audio(11.0, 800), 800, "WAV"), "limit is 10 s"),
    ],
)
def test_bad_files_get_a_400_with_the_reason(app, settings: Settings, models, name, make, reason) -> None:
    app.config["OCEANWATCH_SETTINGS"] = settings.updated(classify={"max_upload_seconds": 10.0})
    token = make_token(settings, make_user(settings, "op", "operator"))
    response = app.test_client().post(
        "/api/v1/predict",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(make()), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and reason in response.json["error"], response.json
    assert not (settings.data_dir / "uploads").exists()


def test_a_clip_the_model_cannot_take_is_refused(api, settings: Settings, tmp_path: Path) -> None:
    four = runnable_model(settings, tmp_path, "vector", deploy=False, spec=dataclasses.replace(TINY_SPEC, channels=4))
    response = api(encode(audio(3.0, 8000), 8000, "WAV"), model_id=four)
    assert response.status_code == 400 and "needs 4 channels" in response.json["error"]


def test_a_broken_model_is_reported_and_the_others_still_answer(api, settings: Settings, models) -> None:
    from oceanwatch.db.models import MLModel

    with session_scope(settings.database_url) as session:
        artifact = Path(session.get(MLModel, models["mc"]).artifact_path)
    artifact.write_bytes(b"not a keras file any more")
    data = encode(audio(3.0, 8000), 8000, "WAV")
    response = api(data)
    assert response.status_code == 200
    by_id = {m["model_id"]: m for m in response.json["models"]}
    assert "checksum" in by_id[models["mc"]]["error"] and by_id[models["mc"]]["error_kind"] == "model"
    assert "windows" in by_id[models["plain"]]
    alone = api(data, model_id=models["mc"])
    assert alone.status_code == 409 and "could not be loaded" in alone.json["error"]


def test_missing_file_unknown_model_and_no_active_model(api, settings: Settings, tmp_path: Path) -> None:
    data = encode(audio(3.0, 8000), 8000, "WAV")
    assert api(data).status_code == 409  # nothing deployed yet
    assert api(data, model_id=999).status_code == 404
    assert api(data, model="nobody").status_code == 404
    assert "integer" in api(data, model_id="x").json["error"]
    runnable_model(settings, tmp_path, "only")
    assert api(data).status_code == 200


def test_uploads_over_the_size_limit_get_413(app, settings: Settings, models) -> None:
    app.config["OCEANWATCH_SETTINGS"] = settings.updated(classify={"max_upload_mb": 0.05})
    big = encode(audio(10.0, 8000), 8000, "WAV")  # 160 kB > 52 kB
    token = make_token(settings, make_user(settings, "op", "operator"))
    client = app.test_client()
    response = client.post(
        "/api/v1/predict",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(big), "big.wav")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "0.05 MB" in response.json["error"]
    small = client.post(
        "/api/v1/predict",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(encode(audio(3.0, 8000), 8000, "WAV")), "s.wav")},
        content_type="multipart/form-data",
    )
    assert small.status_code == 200
    operator = logged_in(app, settings, "operator", "page-op")
    page = operator.post(
        "/classify/",
        data={"csrf_token": csrf_token(operator, "/classify/"), "file": (io.BytesIO(big), "big.wav")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413 and "0.05 MB" in page.get_data(as_text=True)


def test_roles_and_csrf(app, settings: Settings, models) -> None:
    data = encode(audio(3.0, 8000), 8000, "WAV")
    files = lambda: {"file": (io.BytesIO(data), "c.wav")}
    assert app.test_client().post("/api/v1/predict", data=files()).status_code == 401
    viewer = make_token(settings, make_user(settings, "v", "viewer"))
    assert (
        app.test_client()
        .post("/api/v1/predict", headers={"Authorization": f"Bearer {viewer}"}, data=files())
        .status_code
        == 403
    )
    operator = logged_in(app, settings, "operator")
    assert operator.post("/api/v1/predict", data=files()).status_code == 400  # session without the CSRF header
    token = csrf_token(operator, "/classify/")
    ok = operator.post("/api/v1/predict", data=files(), headers={"X-CSRFToken": token})
    assert ok.status_code == 200
    assert logged_in(app, settings, "viewer", "viewer-page").get("/classify/").status_code == 403


def test_models_stay_loaded_in_the_web_process(api, app, models) -> None:
    data = encode(audio(3.0, 8000), 8000, "WAV")
    api(data)
    cache = app.extensions["oceanwatch_model_cache"]
    first = dict(cache._models)
    assert len(first) == 2 and all(key[0] in (models["mc"], models["plain"]) for key in first)
    api(data)
    assert all(cache._models[key] is model for key, model in first.items())  # the same objects, not reloaded


def test_the_page_shows_the_spectrogram_and_each_models_probabilities(app, settings: Settings, models) -> None:
    operator = logged_in(app, settings, "operator")
    page = operator.get("/classify/")
    assert page.status_code == 200 and 'name="file"' in page.get_data(as_text=True)
    token = csrf_token(operator, "/classify/")
    response = operator.post(
        "/classify/",
        data={"csrf_token": token, "keep": "on", "file": (io.BytesIO(encode(audio(5.0, 8000), 8000, "WAV")), "s.wav")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="clip-spectrogram" src="data:image/png;base64,' in html
    assert f'id="result-model-{models["mc"]}"' in html and f'id="result-model-{models["plain"]}"' in html
    assert "kept as upload" in html
    bad = operator.post(
        "/classify/",
        data={"csrf_token": token, "file": (io.BytesIO(b"nope"), "x.wav")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "not a readable WAV or FLAC" in bad.get_data(as_text=True)
    no_csrf = operator.post(
        "/classify/", data={"file": (io.BytesIO(b"nope"), "x.wav")}, content_type="multipart/form-data"
    )
    assert no_csrf.status_code == 400 and "CSRF" in no_csrf.get_data(as_text=True)


def _flac_total(data: bytes, total: int) -> bytes:
    """A FLAC whose STREAMINFO total-samples field (36 bits after rate, channels and bits) says `total`
    (0: the length is unknown, as some streaming encoders write it)."""
    field = int.from_bytes(data[18:26], "big")
    return data[:18] + ((field & ~(2**36 - 1)) | total).to_bytes(8, "big") + data[26:]


def _silent_flac(seconds: int, rate: int, channels: int) -> bytes:
    """A silent FLAC written a second at a time (ten minutes of 48 kHz stereo is ~110 kB)."""
    out = io.BytesIO()
    with soundfile.SoundFile(out, "w", rate, channels, format="FLAC") as flac:
        for _ in range(seconds):
            flac.write(np.zeros((rate, channels), dtype=np.int16))
    return out.getvalue()


def test_decoded_size_is_bounded_before_and_while_decoding(app, settings: Settings, models) -> None:
    token = make_token(settings, make_user(settings, "op", "operator"))
    client = app.test_client()

    def post(data: bytes):
        return client.post(
            "/api/v1/predict",
            headers={"Authorization": f"Bearer {token}"},
            data={"file": (io.BytesIO(data), "clip.flac")},
            content_type="multipart/form-data",
        )

    long_stereo = _silent_flac(600, 48000, 2)
    assert len(long_stereo) < 200_000
    refused = post(long_stereo)  # default limits: 600 s is allowed, 57.6 M samples are not
    assert refused.status_code == 400, refused.json
    assert "header says the clip decodes to 57,600,000 samples" in refused.json["error"]
    assert "30,000,000" in refused.json["error"]
    # a two-second FLAC whose header claims 2**36 - 1 samples: refused from the header, before decoding
    lying = post(_flac_total(_silent_flac(2, 48000, 1), 2**36 - 1))
    assert lying.status_code == 400 and "header says the clip is 1431655.8 s long" in lying.json["error"]
    # no length in the header: decoded in blocks and stopped once past the bound, without the sentinel length
    app.config["OCEANWATCH_SETTINGS"] = settings.updated(classify={"max_upload_samples": 500_000})
    unknown = post(_flac_total(_silent_flac(20, 48000, 1), 0))
    assert unknown.status_code == 400 and "decodes to at least" in unknown.json["error"], unknown.json
    assert "500,000 samples" in unknown.json["error"]
    decoded = int(unknown.json["error"].split("at least ")[1].split(" ")[0].replace(",", ""))
    assert 500_000 < decoded <= 500_000 + 65536  # stopped within one block of the bound
    for text in (refused.json["error"], lying.json["error"], unknown.json["error"]):
        assert "1152921504606847" not in text and "9223372036854775807" not in text and "<_io." not in text
    # a short clip without a length in its header still classifies
    app.config["OCEANWATCH_SETTINGS"] = settings
    ok = post(_flac_total(encode(audio(3.0, 8000), 8000, "FLAC"), 0))
    assert ok.status_code == 200 and ok.json["clip"]["duration_s"] == 3.0, ok.json
    garbage = post(b"these are my notes, not audio\n" * 20)
    assert garbage.status_code == 400 and "<_io." not in garbage.json["error"]


def test_a_worker_classifies_only_so_many_uploads_at_once(settings: Settings, models, monkeypatch) -> None:
    """Many threads of one gthread worker share its memory: CLASSIFY_CONCURRENCY uploads decode at once."""
    import threading
    import time

    from app.classify import classifier

    app = create_app(settings=settings.updated(classify={"concurrency": 1}))
    token = make_token(settings, make_user(settings, "op", "operator"))
    active, most = [0], [0]
    lock = threading.Lock()
    real_read = classifier.read_clip

    def slow_read(*args, **kwargs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.3)  # long enough for the other request to arrive while this one decodes
        try:
            return real_read(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(classifier, "read_clip", slow_read)
    data, codes = encode(audio(5.0, 8000), 8000, "WAV"), []

    def post() -> None:
        codes.append(
            app.test_client()
            .post(
                "/api/v1/predict",
                headers={"Authorization": f"Bearer {token}"},
                data={"file": (io.BytesIO(data), "c.wav")},
                content_type="multipart/form-data",
            )
            .status_code
        )

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert codes == [200, 200, 200] and most == [1]
