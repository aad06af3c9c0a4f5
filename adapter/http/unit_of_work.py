"""Per-request unit of work: one session, one transaction, committed once by the view layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from adapter.auth.caller import Caller
from adapter.config import Config
from adapter.context import Context
from adapter.db import begin_writing
from adapter.fhir.registry import Registry
from adapter.fhir.search import CursorCodec
from adapter.fhir.validation import ResourceValidator
from adapter.secrets import get_or_create_secret


@dataclass
class AppState:
    """What the composition root builds once per process."""

    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    registry: Registry
    validator: ResourceValidator
    clock: Callable[[], datetime]
    issuers: dict = field(default_factory=dict)  # issuer URL -> adapter.auth.oidc.Issuer
    jwks: object = None  # adapter.auth.oidc.JwksCache
    verified_tokens: object = None  # adapter.auth.verified.VerifiedTokens
    _keys: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str:
        """A generated key, read (or created) once in a transaction of its own."""
        if name not in self._keys:
            if name == "cursor_signing_key" and self.config.secret_key:
                self._keys[name] = self.config.secret_key
            else:
                with begin_writing(self.sessions) as session:  # it may insert, during a GET
                    self._keys[name] = get_or_create_secret(session, name=name)
        return self._keys[name]

    def cursors(self) -> CursorCodec:
        """The signer of paging cursors."""
        return CursorCodec(self.key("cursor_signing_key").encode())


def state(app: Flask | None = None) -> AppState:
    """The AppState of the current (or given) app."""
    return (app or current_app).extensions["mc"]


def session() -> Session:
    """This request's session, opened on first use."""
    if "mc_session" not in g:
        g.mc_session = state().sessions()
    return g.mc_session


def context(caller: Caller | None = None) -> Context:
    """This request's Context."""
    app_state = state()
    return Context(
        session=session(),
        config=app_state.config,
        registry=app_state.registry,
        validator=app_state.validator,
        caller=caller or g.caller,
        clock=app_state.clock,
    )


def commit() -> None:
    """Commit this request's work (called once, by the view, after the service succeeded)."""
    if "mc_session" in g:
        g.mc_session.commit()


def rollback() -> None:
    """Roll this request's work back now (a refused request, before auditing it)."""
    if "mc_session" in g:
        g.mc_session.rollback()


def close_session(_exc=None) -> None:
    """Teardown: close the session; anything not committed is rolled back."""
    db_session = g.pop("mc_session", None)
    if db_session is not None:
        db_session.close()
