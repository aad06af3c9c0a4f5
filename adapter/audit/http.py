"""Auditing FHIR requests: the views call these; the rules of what is audited live here.

A write's event goes in the request's own transaction; a read's and a refusal's in a
transaction of their own (a read transaction is not upgraded to a write, and a refused
request's work is rolled back).
"""

from __future__ import annotations

import json
from dataclasses import replace

from flask import g, request

from adapter.audit.service import AUDIT_TRAIL, AUDITED_TYPES, Access, patients_of, record, touches_patient_data
from adapter.db import begin_writing
from adapter.http import unit_of_work
from adapter.identifiers import InvalidIdentifier, normalise

PATIENT_PARAMS = {"subject", "patient", "for"}


def audited_type(resource_type: str | None) -> bool:
    """Whether requests on this type are audited."""
    return resource_type in AUDITED_TYPES or resource_type == AUDIT_TRAIL


def _patient_data(resources: list[dict]) -> list[dict]:
    return [r for r in resources if isinstance(r, dict) and r.get("resourceType") in AUDITED_TYPES]


def in_own_transaction(access: Access) -> None:
    """Record an access in a transaction of its own."""
    ctx = unit_of_work.context()
    with begin_writing(unit_of_work.state().sessions) as session:  # a read's audit is a write
        record(replace(ctx, session=session), access)


def after_read(resource_type: str, interaction: str, resources: list[dict]) -> None:
    """After a read, search or poll: audit every disclosure of patient data (includes too), and
    every read of the audit trail itself, revisors' searches included."""
    if resource_type == AUDIT_TRAIL:
        in_own_transaction(Access(interaction=interaction, resources=resources, patients=_searched_patients()))
        return
    shown = _patient_data(resources)
    if touches_patient_data(shown):
        in_own_transaction(Access(interaction=interaction, resources=shown))


def within_write(ctx, resource_type: str, interaction: str, resources: list[dict]) -> None:
    """Before a write commits: audit when it touches patient data."""
    shown = _patient_data(resources)
    if touches_patient_data(shown):
        record(ctx, Access(interaction=interaction, resources=shown))


def within_bundle(ctx, response_bundle: str) -> None:
    """Before a transaction or batch commits: audit the patient data its entries wrote."""
    entries = json.loads(response_bundle).get("entry", [])
    resources = _patient_data([e.get("resource") for e in entries])
    if touches_patient_data(resources):
        record(ctx, Access(interaction="transaction", resources=resources))


def _searched_patients() -> list[tuple[str, str]]:
    """The patients a request's search parameters name (`subject:identifier`, `patient`)."""
    found = []
    for name, value in request.args.items(multi=True):
        if name.split(":")[0] in PATIENT_PARAMS:
            system, sep, code = value.partition("|")
            if sep and system and code:
                try:
                    system, code = normalise(system, code)
                except InvalidIdentifier:
                    pass
                found.append((system, code))
    return found


def _aimed_at() -> tuple[list[dict], list[tuple[str, str]]]:
    """What a refused request aimed at, when known: the resource in its URL, and the patient in its
    body or search parameters."""
    args = request.view_args or {}
    resources = []
    if args.get("resource_id") and audited_type(args.get("resource_type")):
        resources.append({"resourceType": args["resource_type"], "id": args["resource_id"]})
    body = g.get("request_body")
    patients = patients_of(body) if isinstance(body, dict) else []
    return resources, patients + _searched_patients()


def after_refusal(error) -> None:
    """A refused request on an audited type is audited (outcome 4) in a transaction of its own, with the
    entity and patient it aimed at, so a patient's extract shows attempts on them too."""
    args = request.view_args or {}
    if not audited_type(args.get("resource_type")) or g.get("caller") is None:
        return
    description = f"{request.method} {request.path} refused: " + "; ".join(i.code for i in error.issues)
    unit_of_work.rollback()  # the refused work goes first (and with it the request's write lock)
    resources, patients = _aimed_at()
    in_own_transaction(Access(interaction="operation", outcome="4", description=description[:500],
                              resources=resources, patients=patients))
