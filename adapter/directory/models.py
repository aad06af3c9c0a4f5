"""The directory's read model for routing: one row per inbox, one per membership.

Derived from the FHIR resources on every directory write (`adapter/directory/readmodel.py`),
so that routing a message resolves all its inboxes in one indexed query instead of loading
Practitioners, their roles and their units.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from adapter.db import Base


class InboxEntry(Base):
    """An inbox as routing sees it: kind, whose (party), open or closed, its unit."""

    __tablename__ = "inbox_directory"

    reference: Mapped[str] = mapped_column(String(130), primary_key=True)  # Practitioner/<id>, HealthcareService/<id>
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # "personal" or the inbox-kind
    party: Mapped[str] = mapped_column(String(20), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    organization_id: Mapped[str | None] = mapped_column(String(64))
    organization_hsa_id: Mapped[str | None] = mapped_column(String(64))
    # The care providers (vårdgivare) the inbox is at, space-separated: a shared inbox's unit's, a
    # personal inbox's every active assignment's (MC-R3: exchanges across providers start a case).
    providers: Mapped[str] = mapped_column(String(400), nullable=False, default="", server_default="")
    # Where the inbox's own system is pushed its messages: "Endpoint/<id>" when the inbox (or its
    # unit) names an active FHIR Endpoint (delivery through the outbox); None: it polls.
    endpoint: Mapped[str | None] = mapped_column(String(130))
    # Where the inbox is in Millennium: "Practitioner/<id>" (a user) or "Group/<id>" (a pool, or the
    # Group that mirrors a shared inbox outside Millennium); None: not in Millennium (adapter/millennium).
    millennium: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        # A system client sees its organisation's shared inboxes: found by the unit's HSA-id.
        Index("ix_inbox_directory_organization", "organization_hsa_id"),
        # Inbound: a Millennium sender or Group back to its inbox; the poller's list of mirrored Groups.
        Index("ix_inbox_directory_millennium", "millennium"),
        # Follow-up: the shared inboxes of the units a chef follows up (adapter/followup).
        Index("ix_inbox_directory_unit", "organization_id"),
    )


class InboxMember(Base):
    """A user's active membership of a shared inbox (PractitionerRole.healthcareService)."""

    __tablename__ = "inbox_membership"

    inbox: Mapped[str] = mapped_column(String(130), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
