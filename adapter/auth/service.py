"""Turning verified token claims into a `Caller`, from the directory."""

from __future__ import annotations

from adapter.auth.backend_services import active_client, client_caller
from adapter.auth.caller import SANDBOX_OPERATOR, Caller
from adapter.directory.lookups import active_roles_of, practitioner_id_by_hsa
from adapter.errors import Unauthenticated
from adapter.identifiers import InvalidIdentifier, normalise_hsa_id


def caller_from_claims(session, claims: dict) -> Caller:
    """The caller a sandbox token names; 401 when the user is unknown or has no such assignment."""
    if claims.get("kind") == "operator":
        return SANDBOX_OPERATOR
    try:
        subject_hsa = normalise_hsa_id(str(claims["sub"])) if claims.get("kind") == "user" else None
        unit = normalise_hsa_id(str(claims["unit"])) if claims.get("unit") else None
    except InvalidIdentifier as exc:
        raise Unauthenticated.simple(f"the token names an invalid HSA-id: {exc}") from None
    if claims.get("kind") == "client":
        client = active_client(session, claims.get("sub"))
        return client_caller(client, scopes=str(claims.get("scope", "")))
    if claims.get("kind") != "user":
        raise Unauthenticated.simple("the token names neither a user nor a client")
    practitioner_id = practitioner_id_by_hsa(session, hsa_id=subject_hsa)
    if practitioner_id is None:
        raise Unauthenticated.simple("the token's user is not in the directory")
    roles = active_roles_of(session, practitioner_id=practitioner_id, unit_hsa_id=unit)
    if unit and not roles:
        raise Unauthenticated.simple("the user has no active assignment at the token's unit")
    return Caller(
        kind="user",
        hsa_id=subject_hsa,
        practitioner_id=practitioner_id,
        unit_hsa_id=unit,
        roles=frozenset(r.role for r in roles),
    )
