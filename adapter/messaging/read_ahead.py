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

from sqlalchemy import any_, bindparam, exists, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY

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
# The JSON functions of each backend: an array of objects, and an object.
_JSON = {"postgresql": ("json_agg", "json_build_object"), "sqlite": ("json_group_array", "json_object")}


@cache
def _statement(dialect: str):
    """The one SELECT (built once per backend): inboxes as a JSON array, membership, the original's key row.

    PostgreSQL takes the inboxes as one array parameter (`= ANY`), so the statement's text is one
    whatever their number: it is compiled once and sent as the driver's SQL (`_postgresql_sql`).
    """
    aggregate, build = _JSON[dialect]

    def as_object(table, names):
        return getattr(func, build)(*[part for name in names for part in (literal_column(f"'{name}'"), table.c[name])])

    named = (ENTRY.c.reference == any_(bindparam("references", type_=ARRAY(ENTRY.c.reference.type)))
             if dialect == "postgresql" else ENTRY.c.reference.in_(bindparam("references", expanding=True)))
    inboxes = select(getattr(func, aggregate)(as_object(ENTRY, _INBOX_COLUMNS))).where(named).scalar_subquery()
    member = exists().where(MEMBER.c.inbox == bindparam("inbox"), MEMBER.c.practitioner_id == bindparam("practitioner_id"))
    original = (select(as_object(MESSAGE, ("communication_id", "content_hash")))
                .where(MESSAGE.c.sender == bindparam("sender"), MESSAGE.c.system == bindparam("system"),
                       MESSAGE.c.value == bindparam("value")).limit(1).scalar_subquery())
    return select(inboxes.label("inboxes"), member.label("member"), original.label("original"))


@cache
def _postgresql_sql(dialect) -> tuple[str, dict]:
    """The PostgreSQL statement as psycopg's SQL, with its fixed parameters (the LIMIT): no SQLAlchemy
    statement set-up per message (issue #17)."""
    compiled = _statement("postgresql").compile(dialect=dialect)
    return str(compiled), {name: value for name, value in compiled.params.items() if value is not None}


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
    params = {"references": inboxes or [""], "inbox": sender, "practitioner_id": practitioner_id,
              "sender": key[0] if key else None, "system": key[1] if key else None, "value": key[2] if key else None}
    if connection.dialect.name == "postgresql":
        sql, fixed = _postgresql_sql(connection.dialect)
        row = connection.exec_driver_sql(sql, {**fixed, **params}).one()
    else:
        row = connection.execute(_statement(connection.dialect.name), params).one()
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
