"""A page form's change in the request's transaction: committed with a message, or rolled back with
the refusal shown, the same way on every page."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash

from app.web.extensions import db

T = TypeVar("T")


def submit(
    change: Callable[[], T], done: str | Callable[[T], str] | None, refusals: tuple[type[Exception], ...]
) -> bool:
    """Run `change`, then commit and flash `done` (text, or made from the result); on one of
    `refusals`, roll back and flash its reason as an error.  Returns whether it was committed."""
    try:
        result = change()
        db.session.commit()
    except refusals as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return False
    if done is not None:
        flash(done(result) if callable(done) else done)
    return True
