"""`POST /fhir/$process-message`, its CapabilityStatement `messaging` entry, and its asynchronous answers."""

from __future__ import annotations

from adapter.audit.http import within_write
from adapter.auth.http import require_scope
from adapter.fhir.registry import Registry, SystemOperation
from adapter.mappings import code_system_url, table
from adapter.partner import service

DEFINITION = "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"
RELIABLE_CACHE_MINUTES = 60 * 24 * 30  # responses are kept (the table is never purged); 30 days is what we promise


def _flag(value: str | None) -> bool:
    return str(value).lower() == "true"


def _process_message(ctx, body: dict, args) -> tuple[int, str, dict]:
    answer = service.process(ctx, bundle=body, asynchronous=_flag(args.get("async")), response_url=args.get("response-url"),
                             audit=within_write, authorize=require_scope)
    return answer.status, answer.body, {}


def _messaging(base_url: str) -> dict:
    events = [r["event"] for r in table("message_events")]
    return {
        "endpoint": [{"protocol": {"system": "http://terminology.hl7.org/CodeSystem/message-transport", "code": "http"},
                      "address": f"{base_url}/$process-message"}],
        "reliableCache": RELIABLE_CACHE_MINUTES,
        "documentation": "Events of " + code_system_url("message-event") + ": " + ", ".join(events)
                         + ". MessageHeader.id from one sender is the duplicate key: a repeat gets the first response.",
        "supportedMessage": [{"mode": "receiver", "definition": f"{base_url}/MessageDefinition/{event}"} for event in events],
    }


def register(registry: Registry) -> None:
    """Serve `$process-message`; deliver its asynchronous responses through the outbox."""
    registry.add_system_operation(SystemOperation(
        name="process-message", handler=_process_message, definition=DEFINITION,
        description="Process a FHIR message (Bundle of type message): the focus is routed as a RESTful create or update; "
                    "synchronous (200) or asynchronous (async=true, response-url: 202)",
    ))
    registry.messaging.append(_messaging)
    registry.add_deliverer(service.KIND, service.deliver_response)
