"""Communication: sent (created) through the flow policy, read and searched; never updated."""

from __future__ import annotations

import logging
from functools import partial

from adapter.auth import visibility
from adapter.fhir.registry import PeriodicJob, Registry, ResourceDefinition, SearchParam
from adapter.directory.inboxes import resolve_inbox
from adapter.messaging import delivery, exchange, parties, read_ahead, service
from adapter.messaging.policy import FlowPolicy, Routine

R4 = "http://hl7.org/fhir/SearchParameter"


def _visibility(ctx, id_column):
    """A message is seen by whoever sees its sending inbox or one of its recipients' inboxes."""
    if visibility.sees_everything(ctx):
        return None
    return visibility.refers_to_visible_inbox(ctx, resource_type="Communication", params=("sender", "recipient"),
                                              id_column=id_column)


def _check_reminder_to_other(ctx, *, owner, requester: str, dialogue_held: bool, policy: FlowPolicy) -> None:
    """A reminder Task to someone else follows the party rules of a message (MC-R21, MC-R7, MC-R3).

    It is a work item, not a message about the patient, so the save-to-journal rules (MC-R6, MC-R8)
    do not apply; everything else does, decided by the same table.
    """
    sender = resolve_inbox(ctx, {"reference": requester}, expression="Task.requester")
    exchange.check(policy, exchange.Exchange(
        category="reminder", caller=parties.caller_kind(ctx), sender_reference=sender.reference,
        sender=parties.acting_endpoint(ctx, sender),
        recipients=(exchange.Recipient(owner.reference, parties.endpoint(owner), "Task.owner"),),
        patient=False, save_to_journal=False, dialogue_held=dialogue_held,
        sender_expression="Task.requester", element_expressions=(("extension", "Task.extension"), ("category", "Task.code")),
    ))


log = logging.getLogger("adapter.messaging")


def _routine_check(_sessions, now) -> str:
    """The daily periodic job: say it loudly once the routine the rules implement has expired."""
    routine = Routine.from_table()
    warning = routine.warning(now.date())
    if warning:
        log.warning("the flow rules are past their validity: %s", warning)
        return f"EXPIRED: valid until {routine.valid_to}"
    return f"valid until {routine.valid_to}"


def register(registry: Registry, *, policy: FlowPolicy | None = None) -> None:
    """Serve Communication (create, read, vread, search, history); check reminders to others."""
    policy = policy or FlowPolicy.from_table()
    routine = Routine.from_table()
    registry.add_status_report("routine", lambda now: routine.status(now.date()))
    registry.add_periodic_job(PeriodicJob(
        name="routine-validity", interval_seconds=24 * 3600, run=_routine_check,
        description="Warn when the routine the flow rules implement is past its validity date",
    ))
    registry.on("reminder-to-other", partial(_check_reminder_to_other, policy=policy))
    registry.add_deliverer(delivery.KIND, delivery.deliver_communication)
    registry.on("outbox-delivered", delivery.on_delivered)
    registry.on("outbox-dead", delivery.on_dead)
    registry.on("outbox-requeued", delivery.on_requeued)
    params = (
        SearchParam("identifier", "token", ("Communication.identifier",), "The sender's id for the message", definition=f"{R4}/Communication-identifier"),
        SearchParam("sender", "reference", ("Communication.sender",), "The sending inbox (sent items, MC-R22)",
                    targets=("Practitioner", "HealthcareService"), definition=f"{R4}/Communication-sender"),
        SearchParam("recipient", "reference", ("Communication.recipient",), "A recipient inbox",
                    targets=("Practitioner", "HealthcareService"), definition=f"{R4}/Communication-recipient"),
        SearchParam("category", "token", ("Communication.category",), "The message-category", definition=f"{R4}/Communication-category"),
        SearchParam("subject", "reference", ("Communication.subject",), "The patient (also subject:identifier)", definition=f"{R4}/Communication-subject"),
        SearchParam("part-of", "reference", ("Communication.partOf",), "The case", definition=f"{R4}/Communication-part-of"),
        SearchParam("sent", "date", ("Communication.sent",), "When it was sent", definition=f"{R4}/Communication-sent"),
    )
    registry.add_resource(ResourceDefinition(
        name="Communication",
        search_params={p.name: p for p in params},
        interactions=("create", "read", "vread", "search-type", "history-instance"),
        create_handler=partial(service.send, policy=policy),
        read_ahead=partial(read_ahead.read_ahead, message_key=service.message_key),
        # A message reads the directory, memberships and earlier messages, and locks nothing (as
        # on PostgreSQL, READ COMMITTED); its one race, a retry sent twice at once, is the
        # duplicate key's unique constraint's (409).
        reads_committed=True,
        visibility=_visibility,
    ))
