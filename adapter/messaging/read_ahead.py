"""The reads a message needs, in one statement (issue #17).

Creating a Communication reads three things before it writes: the inboxes it names (sender and
recipients, from the directory's read model), whether the member named in `sent-by` belongs to
the sending shared inbox (MC-R38), and whether the sender already sent a message with this
identifier (the duplicate key: a retry). Asked one by one they were three round trips, each a
statement for SQLAlchemy, psycopg and PostgreSQL to run; here they are three scalar subqueries
of one SELECT, made when the message's references are checked. The answers go to the caches the
later steps read (`load_inboxes`, `is_member`, `find_original`), so each step keeps its own
logic and still works, with its own query, when nothing was read ahead.
"""

from __future__ import annotations

import json
from functools import cache

from sqlalchemy import JSON, Text, bindparam, cast, exists, func, literal_column, select, true

from adapter.directory import shapes
from adapter.directory.inboxes import INBOX_TYPES, remember_inboxes, remember_membership
from adapter.directory.models import InboxEntry, InboxMember
from adapter.messaging.models import Message

ENTRY = InboxEntry.__table__
MEMBER = InboxMember.__table__
MESSAGE = Message.__table__
_ORIGINALS = "mc_originals_read_ahead"
_INBOX_COLUMNS = ("reference", "kind", "party", "active", "organization_id", "organization_hsa_id", "providers",
                  "endpoint", "millennium")
# A literal LIMIT: a parameter's value is unknown to a cached plan.
_ONE = literal_column("1")
# The JSON functions of each backend: an array of objects, and an object.
_JSON = {"postgresql": ("json_agg", "json_build_object"), "sqlite": ("json_group_array", "json_object")}


@cache
def _statement(dialect: str):
    """The one SELECT (built once per backend): inboxes as a JSON array, membership, the original's key row.

    The inboxes come as one JSON array parameter, so the statement's text is one whatever their
    number: it is compiled once and sent as the driver's SQL (`_driver_sql`).
    """
    aggregate, build = _JSON[dialect]

    def as_object(table, names):
        return getattr(func, build)(*[part for name in names for part in (literal_column(f"'{name}'"), table.c[name])])

    if dialect == "postgresql":
        # One index lookup per named inbox, whatever the plan: the statement's plan is cached, and a
        # generic plan for `reference = ANY($1)` scanned the benchmark's small directory instead
        # (0.1 ms a message, issue #17). A lateral lookup kept apart by its LIMIT (not flattened
        # into a join) can only be a key lookup; the names come as a JSON array, whose length no
        # plan knows, so the custom plans cost what the generic one does and it is kept.
        wanted = func.json_array_elements_text(cast(bindparam("references", type_=Text), JSON)).table_valued(
            "reference").render_derived(name="wanted")
        found = select(ENTRY).where(ENTRY.c.reference == wanted.c.reference).limit(_ONE).lateral("found")
        inboxes = (select(getattr(func, aggregate)(as_object(found, _INBOX_COLUMNS)))
                   .select_from(wanted).join(found, true()).scalar_subquery())
    else:
        wanted = func.json_each(bindparam("references", type_=Text)).table_valued("value")
        inboxes = (select(getattr(func, aggregate)(as_object(ENTRY, _INBOX_COLUMNS)))
                   .where(ENTRY.c.reference.in_(select(wanted.c.value))).scalar_subquery())
    member = exists().where(MEMBER.c.inbox == bindparam("inbox"), MEMBER.c.practitioner_id == bindparam("practitioner_id"))
    original = (select(as_object(MESSAGE, ("communication_id", "content_hash")))
                .where(MESSAGE.c.sender == bindparam("sender"), MESSAGE.c.system == bindparam("system"),
                       MESSAGE.c.value == bindparam("value")).limit(_ONE).scalar_subquery())
    return select(inboxes.label("inboxes"), member.label("member"), original.label("original"))


@cache
def _driver_sql(dialect) -> tuple[str, tuple[str, ...] | None, dict]:
    """The statement as the driver's SQL, the order of its parameters where they are positional
    (SQLite's `?`), and the values SQLAlchemy fixed (SQLite's OFFSET 0): no SQLAlchemy statement
    set-up per message (issue #17)."""
    compiled = _statement(dialect.name).compile(dialect=dialect)
    fixed = {name: value for name, value in compiled.params.items() if value is not None}
    return str(compiled), (tuple(compiled.positiontup) if compiled.positional else None), fixed


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def read_ahead(ctx, resource: dict, references: list[str], *, message_key) -> None:
    """Read the message's inboxes, its sender's membership and its duplicate key together."""
    connection = ctx.session.connection()
    if connection.dialect.name not in _JSON:
        return
    inboxes = sorted({r for r in references if r.partition("/")[0] in INBOX_TYPES})
    sender = (resource.get("sender") or {}).get("reference")
    practitioner_id = shapes.reference_id((shapes.extension(resource, "sent-by") or {}).get("valueReference"), "Practitioner")
    try:
        key = message_key(resource)
    except Exception:  # an unusable key is refused by the step that owns it, with its reason
        key = None
    if not inboxes and key is None:
        return
    params = {"references": json.dumps(inboxes), "inbox": sender, "practitioner_id": practitioner_id,
              "sender": key[0] if key else None, "system": key[1] if key else None, "value": key[2] if key else None}
    sql, positions, fixed = _driver_sql(connection.dialect)
    params.update(fixed)
    row = connection.exec_driver_sql(sql, tuple(params[name] for name in positions) if positions else params).one()
    remember_inboxes(ctx.session, _json(row.inboxes) or [])
    if sender and practitioner_id and sender.startswith("HealthcareService/"):
        remember_membership(ctx.session, inbox=sender, practitioner_id=practitioner_id, member=bool(row.member))
    if key is not None:
        ctx.session.info.setdefault(_ORIGINALS, {})[key] = _json(row.original)


def original_read_ahead(session, key: tuple[str, str, str]):
    """(True, {communication_id, content_hash} or None) when the key was read ahead, else (False, None); used once."""
    originals = session.info.get(_ORIGINALS, {})
    if key not in originals:
        return False, None
    return True, originals.pop(key)
