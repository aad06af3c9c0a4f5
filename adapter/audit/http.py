"""Auditing FHIR requests: the views call these; the rules of what is audited live here.

A write's event goes in the request's own transaction; a read's and a refusal's in a
transaction of their own (a read transaction is not upgraded to a write, and a refused
request's work is rolled back).
"""

from __future__ import annotations

import json
from dataclasses import replace

from flask import g, request

from adapter.audit.service import AUDITED_TYPES, Access, record, touches_patient_data
from adapter.http import unit_of_work


def audited_type(resource_type: str | None) -> bool:
    """Whether requests on this type are audited."""
    return resource_type in AUDITED_TYPES


def in_own_transaction(access: Access) -> None:
    """Record an access in a transaction of its own."""
    ctx = unit_of_work.context()
    with unit_of_work.state().sessions.begin() as session:
        record(replace(ctx, session=session), access)


def after_read(resource_type: str, interaction: str, resources: list[dict]) -> None:
    """After a read, search or poll: audit when patient data was shown."""
    if audited_type(resource_type) and touches_patient_data(resources):
        in_own_transaction(Access(interaction=interaction, resources=resources))


def within_write(ctx, resource_type: str, interaction: str, resources: list[dict]) -> None:
    """Before a write commits: audit when it touches patient data."""
    if audited_type(resource_type) and touches_patient_data(resources):
        record(ctx, Access(interaction=interaction, resources=resources))


def within_bundle(ctx, response_bundle: str) -> None:
    """Before a transaction or batch commits: audit the patient data its entries wrote."""
    entries = json.loads(response_bundle).get("entry", [])
    resources = [e["resource"] for e in entries if isinstance(e.get("resource"), dict)
                 and audited_type(e["resource"].get("resourceType"))]
    if touches_patient_data(resources):
        record(ctx, Access(interaction="transaction", resources=resources))


def after_refusal(error) -> None:
    """A refused request on an audited type is audited (outcome 4) in a transaction of its own."""
    args = request.view_args or {}
    if not audited_type(args.get("resource_type")) or g.get("caller") is None:
        return
    description = f"{request.method} {request.path} refused: " + "; ".join(i.code for i in error.issues)
    unit_of_work.rollback()  # the refused work goes first (and with it the request's write lock)
    in_own_transaction(Access(interaction="operation", outcome="4", description=description[:500]))
