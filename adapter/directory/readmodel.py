"""Keeping `inbox_directory` and `inbox_membership` in step with the directory's resources.

Each directory write recomputes the rows it can affect, in the same transaction:
a Practitioner or PractitionerRole its user's row and memberships; a HealthcareService its
row; an Organization its inboxes' rows and the rows of users with roles there.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from adapter.directory import lookups, shapes
from adapter.directory.inboxes import remember_inboxes
from adapter.directory.models import InboxEntry, InboxMember
from adapter.directory.rules import party_of
from adapter.fhir import store
from adapter.fhir.models import ResourceRow
from adapter.writes import insert_later

ENTRY = InboxEntry.__table__
MEMBER = InboxMember.__table__


# Users whose rows a bulk load refreshes once, at the end of its batch (see the loader). Not an
# "mc_" key: those are dropped when a savepoint rolls back, and a failed entry must not end deferral.
_DEFERRED = "deferred_user_refresh"


def _replace_entry(session, row: dict) -> None:
    _replace_entries(session, [row])


def _replace_entries(session, rows: list[dict]) -> None:
    remember_inboxes(session, rows)  # what this transaction reads next (adapter/directory/inboxes.py)
    connection = session.connection()
    connection.execute(delete(ENTRY).where(ENTRY.c.reference.in_([row["reference"] for row in rows])))
    connection.execute(insert(ENTRY), rows)


def refresh_user(session, practitioner_id: str) -> None:
    """A personal inbox's row (party from the units of the user's active roles) and memberships."""
    refresh_users(session, [practitioner_id])


def refresh_users(session, practitioner_ids) -> None:
    """`refresh_user` for many users at once: a fixed number of statements, whatever their number."""
    ids = sorted(set(practitioner_ids))
    practitioners = store.load_many(session, resource_type="Practitioner", ids=ids)
    ids = [i for i in ids if i in practitioners]
    if not ids:
        return
    roles = lookups.active_roles_of_many(session, practitioner_ids=ids)
    org_ids = sorted({r.organization_id for found in roles.values() for r in found if r.organization_id})
    orgs = {i: s.as_dict() for i, s in store.load_many(session, resource_type="Organization", ids=org_ids).items()}
    providers = {i: lookups.provider_of(session, i) for i, o in orgs.items() if shapes.is_active(o)}
    entries, members = [], []
    for practitioner_id in ids:
        active_orgs = [orgs[r.organization_id] for r in roles.get(practitioner_id, []) if r.organization_id in orgs]
        kinds = {shapes.organization_kind(o) for o in active_orgs if shapes.is_active(o)}
        unit_providers = {providers[r.organization_id] for r in roles.get(practitioner_id, []) if r.organization_id in providers}
        entries.append({
            "reference": f"Practitioner/{practitioner_id}", "kind": "personal",
            "party": party_of(kinds), "active": shapes.is_active(practitioners[practitioner_id].as_dict()),
            "organization_id": None, "organization_hsa_id": None, "providers": " ".join(sorted(unit_providers)),
            "millennium": shapes.millennium_id(practitioners[practitioner_id].as_dict()),
        })
        inboxes = {ref["reference"] for info in roles.get(practitioner_id, [])
                   for ref in info.resource.get("healthcareService", [])
                   if ref.get("reference", "").startswith("HealthcareService/")}
        members += [{"inbox": i, "practitioner_id": practitioner_id} for i in sorted(inboxes)]
    _replace_entries(session, entries)
    connection = session.connection()
    connection.execute(delete(MEMBER).where(MEMBER.c.practitioner_id.in_(ids)))
    if members:
        connection.execute(insert(MEMBER), members)


def defer_user_refreshes(session) -> None:
    """From now on in this session, users' rows are refreshed once, by `refresh_deferred_users` (bulk loads)."""
    session.info.setdefault(_DEFERRED, set())


def refresh_deferred_users(session) -> None:
    """Refresh every user whose refresh was deferred, at once; deferral ends."""
    pending = session.info.pop(_DEFERRED, None)
    if pending:
        refresh_users(session, pending)


def _refresh_user_now_or_later(session, practitioner_id: str) -> None:
    deferred = session.info.get(_DEFERRED)
    if deferred is None:
        refresh_user(session, practitioner_id)
    else:
        deferred.add(practitioner_id)


def refresh_inbox(session, inbox_id: str) -> None:
    """A shared inbox's row: its kind, its unit's party, open or closed."""
    stored = store.load_current(session, resource_type="HealthcareService", resource_id=inbox_id)
    if stored is None:
        return
    inbox = stored.as_dict()
    unit_id = shapes.reference_id(inbox.get("providedBy"), "Organization")
    unit = store.load_current(session, resource_type="Organization", resource_id=unit_id) if unit_id else None
    unit_resource = unit.as_dict() if unit else {}
    kind = shapes.organization_kind(unit_resource)
    party = "care" if kind in (None, "verksamhet") else party_of({kind})
    _replace_entry(session, {
        "reference": stored.reference, "kind": shapes.inbox_kind(inbox) or "function", "party": party,
        "active": shapes.is_active(inbox), "organization_id": unit_id, "organization_hsa_id": shapes.hsa_id(unit_resource),
        "providers": lookups.provider_of(session, unit_id) if unit else "",
        "endpoint": _active_endpoint(session, inbox) or _active_endpoint(session, unit_resource),
        "millennium": shapes.millennium_id(inbox),
    })


def _active_endpoint(session, resource: dict) -> str | None:
    """The first active Endpoint the inbox (or its unit) names: where its system is pushed messages."""
    ids = [i for i in (shapes.reference_id(r, "Endpoint") for r in resource.get("endpoint", [])) if i]
    found = store.load_many(session, resource_type="Endpoint", ids=ids) if ids else {}
    for endpoint_id in ids:
        if endpoint_id in found and found[endpoint_id].as_dict().get("status") == "active":
            return f"Endpoint/{endpoint_id}"
    return None


def refresh_unit(session, organization_id: str) -> None:
    """Everything an Organization's change can affect: its inboxes and the users with roles there."""
    for inbox_id in lookups.referring_ids(session, resource_type="HealthcareService", param="organization",
                                          target_type="Organization", target_id=organization_id):
        refresh_inbox(session, inbox_id)
    role_ids = lookups.referring_ids(session, resource_type="PractitionerRole", param="organization",
                                     target_type="Organization", target_id=organization_id)
    users = set()
    for stored in store.load_many(session, resource_type="PractitionerRole", ids=role_ids).values():
        practitioner_id = shapes.reference_id(stored.as_dict().get("practitioner"), "Practitioner")
        if practitioner_id:
            users.add(practitioner_id)
    refresh_users(session, users)


def after_practitioner(ctx, resource: dict, previous: dict | None) -> None:
    """Practitioner `after_write`."""
    if previous is None and _DEFERRED in ctx.session.info:
        # A new user in a bulk load: the personal inbox exists at once (later entries refer to
        # it); its party and memberships follow from its roles when the batch's refresh runs.
        row = {"reference": f"Practitioner/{resource['id']}", "kind": "personal", "party": party_of(set()),
               "active": shapes.is_active(resource), "organization_id": None, "organization_hsa_id": None, "providers": "",
               "millennium": shapes.millennium_id(resource)}
        insert_later(ctx.session.connection(), ENTRY, [row])
        remember_inboxes(ctx.session, [row])
    _refresh_user_now_or_later(ctx.session, resource["id"])


def after_role(ctx, resource: dict, previous: dict | None) -> None:
    """PractitionerRole `after_write`: the user (and a previous user, if the role moved)."""
    users = {shapes.reference_id(r.get("practitioner"), "Practitioner") for r in (resource, previous or {})}
    for practitioner_id in sorted(u for u in users if u):
        _refresh_user_now_or_later(ctx.session, practitioner_id)


def after_inbox(ctx, resource: dict, previous: dict | None) -> None:
    """HealthcareService `after_write`."""
    refresh_inbox(ctx.session, resource["id"])


def after_unit(ctx, resource: dict, previous: dict | None) -> None:
    """Organization `after_write` (after the lifecycle hook)."""
    refresh_unit(ctx.session, resource["id"])


def after_endpoint(ctx, resource: dict, previous: dict | None) -> None:
    """Endpoint `after_write`: the inboxes naming it, directly or through their unit."""
    session = ctx.session
    for inbox_id in lookups.referring_ids(session, resource_type="HealthcareService", param="endpoint",
                                          target_type="Endpoint", target_id=resource["id"]):
        refresh_inbox(session, inbox_id)
    for unit_id in lookups.referring_ids(session, resource_type="Organization", param="endpoint",
                                         target_type="Endpoint", target_id=resource["id"]):
        for inbox_id in lookups.referring_ids(session, resource_type="HealthcareService", param="organization",
                                              target_type="Organization", target_id=unit_id):
            refresh_inbox(session, inbox_id)


def rebuild_all(session) -> None:
    """Recompute the whole read model from the stored resources (migrations, repairs)."""
    session.connection().execute(delete(MEMBER))
    session.connection().execute(delete(ENTRY))
    for resource_type, refresh in (("HealthcareService", refresh_inbox), ("Practitioner", refresh_user)):
        ids = session.connection().execute(select(ResourceRow.id).where(ResourceRow.resource_type == resource_type)).scalars().all()
        for resource_id in ids:
            refresh(session, resource_id)
