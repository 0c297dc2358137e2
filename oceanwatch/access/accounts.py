"""User accounts outside any web framework: create, check passwords, issue and resolve API tokens.

The web app, its CLI and `make demo` all create users, so the rules (hashing, roles, token
format) live here once.  Passwords and API tokens are stored only as hashes: a leaked
database gives neither.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from oceanwatch.db.audit import record
from oceanwatch.db.models import ApiToken, User

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "ow_"
TOKEN_SCOPES = ("read", "write")  # read: GET/HEAD on the API only; write: whatever the user's role allows
MAX_TOKEN_DAYS = 3650
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)
# Checked instead of a real hash when the name is unknown or the user inactive, so that every failed
# login costs one hash check and the response time does not tell which names exist.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(32))


class AccountError(ValueError):
    """A request about accounts that cannot be done (duplicate name, unknown role, weak password)."""


def role_rank(role: str) -> int:
    """viewer < operator < admin; an unknown role ranks below everything."""
    return ROLES.index(role) if role in ROLES else -1


def has_role(user_role: str, required: str) -> bool:
    return role_rank(user_role) >= role_rank(required) >= 0


def create_user(
    session: Session, username: str, password: str, role: str = "viewer", actor_id: int | None = None
) -> User:
    """Add an account (in the caller's transaction) with a hashed password."""
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("username: 1 to 64 characters")
    if role not in ROLES:
        raise AccountError(f"role: one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(username=username, password_hash=generate_password_hash(password), role=role, active=True)
    session.add(user)
    session.flush()
    record(session, actor_id, "user.create", "user", user.id, username=username, role=role)
    return user


def set_role(session: Session, user_id: int, role: str, actor_id: int | None) -> User:
    if role not in ROLES:
        raise AccountError(f"role: one of {', '.join(ROLES)}")
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    if user.role != role:
        record(session, actor_id, "user.role", "user", user.id, old=user.role, new=role)
        user.role = role
    return user


def set_active(session: Session, user_id: int, active: bool, actor_id: int | None) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    if user.active != active:
        user.active = active
        if not active:
            end_sessions(session, user.id)
        record(session, actor_id, "user.activate" if active else "user.deactivate", "user", user.id)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same answer for every failure)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login = dt.datetime.now(dt.timezone.utc)
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Revoke every login session and live-dashboard grant the user holds: they carry the session
    version they were issued under, and a bumped version no longer matches."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    user.session_version = User.session_version + 1  # in SQL, so concurrent logouts both count
    session.flush()


def session_holder(session: Session, user_id: int, version: int) -> User | None:
    """The user a session or grant issued under `version` belongs to, if it is still valid (active user,
    version not bumped since)."""
    user = session.get(User, user_id)
    return user if user is not None and user.active and user.session_version == version else None


def hash_token(token: str) -> str:
    """Tokens are long random strings, so a plain SHA-256 (no salt, no stretching) is enough and lets
    the database look a token up by its hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user_id: int, name: str = "default", scope: str = "write", expires_in_days: int | None = None
) -> str:
    """A new named API token for the user, returned once (only its hash is stored).  A live token of
    the same name is revoked: issuing "default" again replaces it, other names are left alone."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("token name: 1 to 64 characters")
    if scope not in TOKEN_SCOPES:
        raise AccountError(f"token scope: one of {', '.join(TOKEN_SCOPES)}")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise AccountError(f"token expiry: 1 to {MAX_TOKEN_DAYS} days")
    now = dt.datetime.now(dt.timezone.utc)
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(days=expires_in_days) if expires_in_days is not None else None
    row = ApiToken(user_id=user_id, name=name, token_hash=hash_token(token), scope=scope, expires_at=expires)
    session.add(row)
    session.flush()
    record(
        session,
        user_id,
        "user.token",
        "user",
        user_id,
        token_id=row.id,
        name=name,
        scope=scope,
        expires_at=expires.isoformat() if expires else None,
    )
    return token


def user_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The user's tokens not revoked, newest first (the account page's list)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, user_id: int, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (someone else's id is refused like an unknown one)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise AccountError(f"no token with id {token_id}")
    row.revoked_at = dt.datetime.now(dt.timezone.utc)
    record(session, user_id, "user.token_revoke", "user", user_id, token_id=row.id, name=row.name)
    return row


def token_holder(session: Session, token: str) -> tuple[User, ApiToken] | None:
    """The active user and the token row for a presented token, if it is neither revoked nor expired.
    last_used_at is written only when it is over TOKEN_USE_RESOLUTION old, so a busy client costs one
    write a minute, not one per request; the caller commits."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = dt.datetime.now(dt.timezone.utc)
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION:
        row.last_used_at = now
    return user, row


def ensure_admin(session: Session, username: str, password: str) -> bool:
    """Create the admin if no user of that name exists; True when it was created."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        return False
    create_user(session, username, password, "admin")
    return True
