"""Accounts, roles, login limits, CSRF and API tokens: every route refuses who it should."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from app import create_app
from app.web.auth import LOGIN_FAILURES_PER_ADDRESS
from oceanwatch.access.accounts import hash_token, set_active
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import ApiToken, AuditLog, User
from tests.webkit import PASSWORD, csrf_token, logged_in, login, make_token, make_user

pytestmark = pytest.mark.integration

OPEN_ENDPOINTS = {"static", "health.healthz", "health.readyz", "health.status", "health.index", "auth.login"}


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings)


def _concrete(rule) -> str:
    path = rule.rule
    for arg in rule.arguments:
        path = path.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "deploy")
    return path


def test_every_route_but_login_and_health_refuses_anonymous_users(app) -> None:
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(_concrete(rule), method=method)
            if rule.rule.startswith("/api/"):
                assert response.status_code == 401, (rule.rule, method, response.status_code)
            elif method == "GET":
                assert response.status_code == 302 and "/login" in response.headers["Location"], (rule.rule, method)
            else:  # a form post without a session: CSRF refuses it before anything else runs
                assert response.status_code in (302, 400), (rule.rule, method, response.status_code)
            checked += 1
    assert checked >= 20


def test_every_guarded_view_declares_its_role(app) -> None:
    for endpoint, view in app.view_functions.items():
        if endpoint not in OPEN_ENDPOINTS:
            assert getattr(view, "required_role", None) in ("viewer", "operator", "admin"), endpoint


def test_login_hashes_passwords_and_redirects_to_next(app, settings: Settings) -> None:
    make_user(settings, "ann", "viewer")
    with session_scope(settings.database_url) as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ann"))
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token, "next": "/models/"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/models/"
    assert client.get("/models/").status_code == 200
    evil = client.post(
        "/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/"}
    )
    assert evil.headers["Location"] == "/home/"


def test_wrong_password_is_refused_and_audited(app, settings: Settings) -> None:
    make_user(settings, "bob", "viewer")
    client = app.test_client()
    assert login(client, "bob", "wrong password").status_code == 401
    assert client.get("/live/").status_code == 302
    with session_scope(settings.database_url) as session:
        failures = session.scalars(select(AuditLog).where(AuditLog.action == "auth.login_failed")).all()
    assert [(f.target_id, f.details["ip"]) for f in failures] == [("bob", "127.0.0.1")]


def test_login_is_rate_limited_per_user_and_ip(app, settings: Settings) -> None:
    make_user(settings, "carol", "viewer")
    client = app.test_client()
    for _ in range(5):
        assert login(client, "carol", "nope nope", ip="10.0.0.1").status_code == 401
    limited = login(client, "carol", PASSWORD, ip="10.0.0.1")
    assert limited.status_code == 429 and "Too many failed logins" in limited.get_data(as_text=True)
    # Another address is not blocked by someone else's failures.
    assert login(app.test_client(), "carol", PASSWORD, ip="10.0.0.2").status_code == 302


def test_behind_a_proxy_the_limit_keys_on_the_forwarded_client_address(settings: Settings) -> None:
    proxied = create_app(settings=settings.updated(web={"proxy_hops": 1}))
    make_user(settings, "fay", "viewer")
    client = proxied.test_client()

    def attempt(client_ip: str, password: str = "nope nope"):
        token = csrf_token(client)
        return client.post(
            "/login",
            data={"username": "fay", "password": password, "csrf_token": token},
            headers={"X-Forwarded-For": client_ip},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        )

    for _ in range(5):
        assert attempt("203.0.113.7").status_code == 401
    assert attempt("203.0.113.7", PASSWORD).status_code == 429
    assert attempt("198.51.100.1", PASSWORD).status_code == 302  # same proxy, another client
    with session_scope(settings.database_url) as session:
        ips = set(session.scalars(select(AuditLog.details["ip"].astext).where(AuditLog.action == "auth.login_failed")))
    assert ips == {"203.0.113.7"}


def test_forms_without_csrf_token_are_refused(app, settings: Settings) -> None:
    make_user(settings, "dave", "viewer")
    client = app.test_client()
    assert client.post("/login", data={"username": "dave", "password": PASSWORD}).status_code == 400
    operator = logged_in(app, settings, "operator")
    assert operator.post("/models/1/deploy").status_code == 400
    assert operator.post("/logout").status_code == 400


def test_viewer_is_refused_operator_and_admin_actions(app, settings: Settings) -> None:
    viewer = logged_in(app, settings, "viewer")
    token = csrf_token(viewer, "/live/")
    assert viewer.get("/live/").status_code == 200
    assert viewer.get("/models/").status_code == 200
    assert viewer.post("/models/1/deploy", data={"csrf_token": token}).status_code == 403
    assert viewer.post("/models/upload", data={"csrf_token": token}).status_code == 403
    assert viewer.get("/users/").status_code == 403
    assert viewer.post("/api/v1/models/1/deploy", headers={"X-CSRFToken": token}).status_code == 403
    operator = logged_in(app, settings, "operator")
    assert operator.get("/users/").status_code == 403
    assert operator.post("/models/1/deploy", data={"csrf_token": csrf_token(operator, "/live/")}).status_code == 303


def test_admin_manages_users_and_roles(app, settings: Settings) -> None:
    admin = logged_in(app, settings, "admin")
    token = csrf_token(admin, "/users/")
    created = admin.post(
        "/users/", data={"username": "erin", "password": "long enough pw", "role": "viewer", "csrf_token": token}
    )
    assert created.status_code == 303
    with session_scope(settings.database_url) as session:
        erin = session.scalar(select(User).where(User.username == "erin"))
    assert erin.role == "viewer"
    admin.post(f"/users/{erin.id}/role", data={"role": "operator", "csrf_token": token})
    admin.post(f"/users/{erin.id}/active", data={"active": "0", "csrf_token": token})
    with session_scope(settings.database_url) as session:
        erin = session.get(User, erin.id)
        actions = session.scalars(select(AuditLog.action).where(AuditLog.target_id == str(erin.id))).all()
    assert (erin.role, erin.active) == ("operator", False)
    assert {"user.create", "user.role", "user.deactivate"} <= set(actions)
    assert login(app.test_client(), "erin", "long enough pw").status_code == 401  # deactivated
    weak = admin.post(
        "/users/", data={"username": "x", "password": "short", "csrf_token": token}, follow_redirects=True
    )
    assert "at least 8 characters" in weak.get_data(as_text=True)


def test_api_tokens_authenticate_and_only_their_hash_is_stored(app, settings: Settings) -> None:
    viewer = logged_in(app, settings, "viewer")
    token = _new_token(viewer)
    with session_scope(settings.database_url) as session:
        user = session.scalar(select(User).where(User.username == "viewer-user"))
        [row] = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert (row.name, row.scope, row.expires_at) == ("default", "write", None)
    client = app.test_client()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["username"] == "viewer-user" and me.json["role"] == "viewer"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer ow_not-a-real-token"}).status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    refused = client.post("/api/v1/models/1/deploy", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403


def _new_token(client, **form: str) -> str:
    """Create a token through the account page's form; the page shows it once."""
    page = client.post("/users/me/token", data={**form, "csrf_token": csrf_token(client, "/users/me")})
    assert page.status_code == 200, page.get_data(as_text=True)
    return page.get_data(as_text=True).split('id="api-token">')[1].split("<")[0]


def _token_row(settings: Settings, name: str) -> ApiToken:
    with session_scope(settings.database_url) as session:
        return session.scalars(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).one()


def test_named_tokens_with_scope_expiry_revocation_and_last_use(app, settings: Settings) -> None:
    operator = logged_in(app, settings, "operator")
    ci, dash = _new_token(operator, name="ci", scope="write"), _new_token(operator, name="dash", scope="read")
    old = _new_token(operator, name="old", scope="write", expires_days="1")
    client = app.test_client()

    def call(token: str, method: str = "GET", path: str = "/api/v1/models"):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"})

    assert call(ci).status_code == 200 and call(dash).status_code == 200  # two named tokens, both work
    assert call(ci, "POST", "/api/v1/models/999/deploy").status_code == 409  # the write token reaches the view
    refused = call(dash, "POST", "/api/v1/models/999/deploy")
    assert refused.status_code == 403 and "read-only" in refused.json["error"], refused.json
    assert call(dash, "HEAD").status_code == 200

    # Used once, last_used_at is set, and shown on the account page; a second use within the minute
    # does not write it again.
    first_use = _token_row(settings, "ci").last_used_at
    assert first_use is not None
    call(ci)
    assert _token_row(settings, "ci").last_used_at == first_use
    page = operator.get("/users/me").get_data(as_text=True)
    ci_row = page.split(f'id="token-{_token_row(settings, "ci").id}"')[1].split("</tr>")[0]
    assert first_use.strftime("%Y-%m-%d %H:%M UTC") in ci_row and ">read<" in page

    # A day later the one-day token has expired (its expiry moved back a day, as the clock would).
    assert call(old).status_code == 200
    with session_scope(settings.database_url) as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.name == "old")
            .values(expires_at=ApiToken.expires_at - dt.timedelta(days=1, seconds=1))
        )
    assert call(old).status_code == 401

    # Revoked on the account page through its form: refused, while the other token still works.
    other = logged_in(app, settings, "viewer")
    ci_id = _token_row(settings, "ci").id
    other.post(f"/users/me/tokens/{ci_id}/revoke", data={"csrf_token": csrf_token(other, "/users/me")})
    assert call(ci).status_code == 200, "someone else's token cannot be revoked by them"
    revoked = operator.post(
        f"/users/me/tokens/{ci_id}/revoke",
        data={"csrf_token": csrf_token(operator, "/users/me")},
        follow_redirects=True,
    )
    assert "Revoked API token ci" in revoked.get_data(as_text=True)
    assert f'id="token-{ci_id}"' not in revoked.get_data(as_text=True)
    assert call(ci).status_code == 401 and call(dash).status_code == 200
    assert operator.post(f"/users/me/tokens/{ci_id}/revoke").status_code == 400  # CSRF-protected


def test_the_session_cookie_is_secure_when_the_proxy_says_https(settings: Settings) -> None:
    make_user(settings, "tess", "viewer")

    def login_cookie(app, headers: dict[str, str]) -> str:
        client = app.test_client()
        token = csrf_token(client)
        response = client.post(
            "/login", data={"username": "tess", "password": PASSWORD, "csrf_token": token}, headers=headers
        )
        assert response.status_code == 302
        [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
        return cookie

    proxied = create_app(settings=settings.updated(web={"proxy_hops": 1}))
    # Over https Flask-WTF also wants a same-origin Referer, which browsers send (Referrer-Policy same-origin).
    https = {"X-Forwarded-Proto": "https", "Referer": "https://localhost/login"}
    assert "; Secure" in login_cookie(proxied, https)
    assert "; Secure" not in login_cookie(proxied, {})
    direct = create_app(settings=settings)  # no proxy trusted: a client's header does not make it https
    assert "; Secure" not in login_cookie(direct, {"X-Forwarded-Proto": "https"})
    forced = create_app(settings=settings.updated(web={"cookie_secure": "true"}))
    assert "; Secure" in login_cookie(forced, {})
    never = create_app(settings=settings.updated(web={"proxy_hops": 1, "cookie_secure": "false"}))
    assert "; Secure" not in login_cookie(never, https)


def test_token_api_writes_need_no_csrf_but_cookie_api_writes_do(app, settings: Settings) -> None:
    operator_id = make_user(settings, "oscar", "operator")
    token = make_token(settings, operator_id)
    client = app.test_client()
    by_token = client.post("/api/v1/models/999/deploy", headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 409 and "no model with id 999" in by_token.json["error"]
    cookie = logged_in(app, settings, "operator")
    assert cookie.post("/api/v1/models/999/deploy").status_code == 400
    with_header = cookie.post("/api/v1/models/999/deploy", headers={"X-CSRFToken": csrf_token(cookie, "/live/")})
    assert with_header.status_code == 409


def test_cli_creates_the_first_admin(settings: Settings, tmp_path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": "cli-secret",
        "DATA_DIR": str(tmp_path),
        "OW_PASSWORD": "first admin pw",
    }
    flask_cli = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "users", "create-admin", "root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert flask_cli.returncode == 0, flask_cli.stderr
    module_cli = subprocess.run(
        [sys.executable, "-m", "app.users", "create", "watcher", "--role", "viewer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert module_cli.returncode == 0, module_cli.stderr
    duplicate = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "users", "create-admin", "root"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr
    weak = subprocess.run(
        [sys.executable, "-m", "app.users", "create", "weakling", "--password", "short"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode == 1 and "at least 8 characters" in weak.stderr and "Traceback" not in weak.stderr
    with session_scope(settings.database_url) as session:
        roles = dict(session.execute(select(User.username, User.role)).all())
    assert roles == {"root": "admin", "watcher": "viewer"}
    client = create_app(settings=settings).test_client()
    assert login(client, "root", "first admin pw").status_code == 302


def _replay(app, cookie: str):
    """A new client presenting a session cookie captured earlier."""
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return client


def test_a_session_cookie_captured_before_logout_is_refused_after_it(app, settings: Settings) -> None:
    viewer = logged_in(app, settings, "viewer")
    captured = viewer.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert _replay(app, captured).get("/live/").status_code == 200
    assert viewer.post("/logout", data={"csrf_token": csrf_token(viewer, "/live/")}).status_code == 302
    replayed = _replay(app, captured)
    page = replayed.get("/live/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert replayed.get("/api/v1/me").status_code == 401
    assert login(app.test_client(), "viewer-user").status_code == 302  # logging in again works


def test_deactivation_ends_a_users_sessions_for_good(app, settings: Settings) -> None:
    admin = logged_in(app, settings, "admin")
    viewer = logged_in(app, settings, "viewer")
    captured = viewer.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    with session_scope(settings.database_url) as session:
        viewer_id = session.scalar(select(User.id).where(User.username == "viewer-user"))
    token = csrf_token(admin, "/users/")
    admin.post(f"/users/{viewer_id}/active", data={"active": "0", "csrf_token": token})
    assert _replay(app, captured).get("/live/").status_code == 302
    # Reactivated, the user logs in afresh; the cookie from before stays dead.
    admin.post(f"/users/{viewer_id}/active", data={"active": "1", "csrf_token": token})
    assert _replay(app, captured).get("/live/").status_code == 302
    assert login(app.test_client(), "viewer-user").status_code == 302


def test_unknown_and_inactive_names_cost_the_same_password_check_as_known_ones(
    app, settings: Settings, monkeypatch
) -> None:
    import oceanwatch.access.accounts as accounts

    checked: list[str] = []
    real_check = accounts.check_password_hash
    monkeypatch.setattr(
        accounts, "check_password_hash", lambda stored, given: checked.append(stored) or real_check(stored, given)
    )
    make_user(settings, "gina", "viewer")
    hank = make_user(settings, "hank", "viewer")
    with session_scope(settings.database_url) as session:
        set_active(session, hank, False, None)
        real_hash = session.scalar(select(User.password_hash).where(User.username == "gina"))
    client = app.test_client()
    for name, password in (("gina", "wrong password"), ("no-such-user", "wrong password"), ("hank", PASSWORD)):
        checked.clear()
        assert login(client, name, password).status_code == 401
        # One check each, with the same method and cost parameters (e.g. scrypt:32768:8:1) as a real hash.
        assert [h.split("$")[0] for h in checked] == [real_hash.split("$")[0]], name


def test_spraying_many_names_from_one_address_is_limited_across_names(app, settings: Settings) -> None:
    make_user(settings, "ivy", "viewer")
    client = app.test_client()
    codes = [
        login(client, f"guess-{i}", "Winter2026!", ip="10.0.0.9").status_code
        for i in range(LOGIN_FAILURES_PER_ADDRESS + 5)
    ]
    assert codes == [401] * LOGIN_FAILURES_PER_ADDRESS + [429] * 5
    assert login(client, "ivy", PASSWORD, ip="10.0.0.9").status_code == 429
    assert login(app.test_client(), "ivy", PASSWORD, ip="10.0.0.10").status_code == 302
