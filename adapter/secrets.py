"""Keys the adapter generates once and keeps in its database, shared by every worker and CLI."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapter.fhir.models import Setting


def get_or_create_secret(session: Session, *, name: str) -> str:
    """Return the secret `name`, creating it on first use (safe when two processes race)."""
    value = session.execute(select(Setting.value).where(Setting.key == name)).scalar_one_or_none()
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.add(Setting(key=name, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass  # another process created it first: use theirs
    return session.execute(select(Setting.value).where(Setting.key == name)).scalar_one()


def get_setting(session: Session, *, key: str) -> str | None:
    """A stored setting, or None."""
    return session.execute(select(Setting.value).where(Setting.key == key)).scalar_one_or_none()


def set_setting(session: Session, *, key: str, value: str) -> None:
    """Store a setting (insert or replace)."""
    existing = session.get(Setting, key)
    if existing is None:
        session.add(Setting(key=key, value=value))
    else:
        existing.value = value
