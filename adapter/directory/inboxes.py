"""Inboxes at either end of a message, from the directory's read model (`inbox_directory`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from adapter.directory.models import InboxEntry, InboxMember
from adapter.errors import Issue, UnprocessableResource

INBOX_TYPES = ("Practitioner", "HealthcareService")
_CACHE = "mc_inboxes"
_MEMBERS = "mc_memberships_read_ahead"
# Built once: a statement built per call costs more Python than its database round trip.
_ENTRIES = select(InboxEntry.__table__).where(InboxEntry.__table__.c.reference.in_(bindparam("references", expanding=True)))
_MEMBER = select(InboxMember.__table__.c.inbox).where(
    InboxMember.__table__.c.inbox == bindparam("inbox"), InboxMember.__table__.c.practitioner_id == bindparam("practitioner_id"))


@dataclass(frozen=True)
class Inbox:
    """A resolved inbox: personal (a Practitioner) or shared (a HealthcareService)."""

    reference: str
    kind: str  # "personal" or the inbox-kind
    party: str
    active: bool
    organization_id: str | None = None  # a shared inbox's unit
    organization_hsa_id: str | None = None
    providers: frozenset[str] = frozenset()  # the care providers it is at (MC-R3)
    endpoint: str | None = None  # "Endpoint/<id>": its system is pushed its messages (adapter/delivery)
    millennium: str | None = None  # "Practitioner/<id>" or "Group/<id>" in Millennium (adapter/millennium)

    @property
    def is_personal(self) -> bool:
        return self.kind == "personal"

    @property
    def in_millennium(self) -> bool:
        """The inbox lives in Millennium: a user there, or a pool of a care provider's unit (DESIGN.md)."""
        return self.millennium is not None and (self.is_personal or self.party == "care")

    @property
    def mirror_group(self) -> str | None:
        """The Millennium Group id that mirrors this shared inbox outside Millennium (its replies come back)."""
        if self.millennium and not self.is_personal and self.party != "care":
            return self.millennium.split("/", 1)[1]
        return None

    @property
    def id(self) -> str:
        return self.reference.split("/", 1)[1]


def inbox_from_row(row) -> Inbox:
    """An Inbox from a read-model row (a Row, or a dict of its columns)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return Inbox(get("reference"), get("kind"), get("party"), bool(get("active")), get("organization_id"),
                 get("organization_hsa_id"), frozenset((get("providers") or "").split()), get("endpoint"), get("millennium"))


def load_inboxes(ctx, references: list[str]) -> dict[str, Inbox]:
    """The inboxes named, in one query (cached for the transaction)."""
    cache = ctx.session.info.setdefault(_CACHE, {})
    missing = sorted({r for r in references if r not in cache})
    if missing:
        for row in ctx.session.connection().execute(_ENTRIES, {"references": missing}):
            cache[row.reference] = inbox_from_row(row)
    return {r: cache[r] for r in references if r in cache}


_BY_MILLENNIUM = select(InboxEntry.__table__.c.reference, InboxEntry.__table__.c.millennium).where(
    InboxEntry.__table__.c.millennium.in_(bindparam("ids", expanding=True)))


def inboxes_in_millennium(ctx, millennium_ids: list[str]) -> dict[str, Inbox]:
    """Our inboxes by their Millennium id (`Practitioner/<id>`, `Group/<id>`), in two indexed queries."""
    wanted = sorted(set(millennium_ids))
    if not wanted:
        return {}
    rows = ctx.session.connection().execute(_BY_MILLENNIUM, {"ids": wanted}).all()
    loaded = load_inboxes(ctx, [row.reference for row in rows])
    return {row.millennium: loaded[row.reference] for row in rows if row.reference in loaded}


def remember_inboxes(session, rows: list[dict]) -> None:
    """The read model's rows just written in this transaction: later loads need not read them back."""
    cache = session.info.setdefault(_CACHE, {})
    for row in rows:
        cache[row["reference"]] = inbox_from_row(row)


def existing_inboxes(resource_type: str):
    """An `exists_many` hook for Practitioner or HealthcareService, answered by the read model."""
    def exists_many(ctx, ids: list[str]) -> set[str]:
        found = load_inboxes(ctx, [f"{resource_type}/{i}" for i in ids])
        return {ref.split("/", 1)[1] for ref in found}
    return exists_many


def prefetch_inboxes(ctx, references: list[str]) -> None:
    """Load every inbox a write names, personal and shared, in one query (a reference prefetcher)."""
    load_inboxes(ctx, [r for r in references if r.partition("/")[0] in INBOX_TYPES])


def resolve_inbox(ctx, reference, *, expression: str) -> Inbox:
    """The inbox a Reference names; 422 when it names anything else or nothing."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    target_type, _, target_id = (ref or "").partition("/")
    if target_type not in INBOX_TYPES or not target_id:
        raise UnprocessableResource(Issue(
            "invalid", "an inbox is a Practitioner (personal inbox) or a HealthcareService (shared inbox)", expression))
    found = load_inboxes(ctx, [ref]).get(ref)
    if found is None:
        raise UnprocessableResource(Issue("not-found", f"{ref} does not exist", expression))
    return found


def remember_membership(session, *, inbox: str, practitioner_id: str, member: bool) -> None:
    """A membership read ahead (with other reads, in one statement): the next `is_member` for it uses it."""
    session.info.setdefault(_MEMBERS, {})[(inbox, practitioner_id)] = member


def is_member(ctx, *, practitioner_id: str, inbox: Inbox) -> bool:
    """True when the user has an active role listing the shared inbox (PractitionerRole.healthcareService)."""
    # A membership read ahead is used once: a later check in the transaction (after a role
    # changed in a transaction Bundle, say) reads the table again.
    read = ctx.session.info.get(_MEMBERS, {}).pop((inbox.reference, practitioner_id), None)
    if read is not None:
        return read
    return ctx.session.connection().execute(
        _MEMBER, {"inbox": inbox.reference, "practitioner_id": practitioner_id}).first() is not None
