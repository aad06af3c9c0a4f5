"""The unit of work a service function runs in: session, caller, clock, configuration."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from sqlalchemy.orm import Session

from adapter.auth.caller import ADAPTER, Caller
from adapter.config import Config
from adapter.fhir.registry import Registry
from adapter.fhir.validation import ResourceValidator


@dataclass(frozen=True)
class Context:
    """Passed to every service function; services never commit (the caller of the unit does)."""

    session: Session
    config: Config
    registry: Registry
    validator: ResourceValidator
    caller: Caller
    clock: Callable[[], datetime]

    def as_adapter(self) -> "Context":
        """The same unit of work, acting as the adapter itself (items and inboxes it creates)."""
        return replace(self, caller=ADAPTER)
