"""The Millennium connector's pure mapping, and its client against the emulator behind `responses` (no database)."""

import base64
import json

import pytest

from adapter.delivery.outbound import OutboundClient, OutboundSettings
from adapter.identifiers import MILLENNIUM_COMMUNICATION, PERSONNUMMER_OID
from adapter.millennium import mapping
from adapter.millennium.client import MillenniumClient, MillenniumError
from adapter.millennium.settings import from_env
from tests.integration.millennium_helpers import (ALFA_GROUP, ANNA_MID, INTEGRATION, PATIENT_MID, PRIVATE_JWK, settings,
                                                  tenant)  # noqa: F401  (tenant is a fixture)
from tests.millennium_emulator import XHTML_SKELETON


def _message(**extra) -> dict:
    return {"resourceType": "Communication", "id": "c-1", "payload": [{"contentString": "Hej"}], **extra}


def _party() -> mapping.Party:
    return mapping.Party("Exempelkommun hemsjukvård", "SE2120000001-E000000000301#samverkan", "Maria Svensson",
                         "SE2120000001-P000000003002")


def test_item_kinds_go_upstream_as_the_table_says():
    assert mapping.millennium_category("message") == "notification"
    assert mapping.millennium_category("delivery-failure") == "alert"
    assert mapping.millennium_category("result") is None  # results are Millennium's own flow (MC-R17)
    assert mapping.millennium_category("order-cosign") is None


@pytest.mark.parametrize(("ours", "theirs"), [(None, "routine"), ("routine", "routine"), ("urgent", "urgent"),
                                              ("asap", "urgent"), ("stat", "urgent")])
def test_priorities_become_routine_or_urgent(ours, theirs):
    assert mapping.millennium_priority(ours) == theirs


def test_the_communication_names_the_inbox_the_user_and_the_case_and_carries_the_marker():
    built = mapping.to_millennium(message=_message(topic={"text": "Vårdplanering"}, priority="stat"), item_kind="message",
                                  sender=_party(), sender_practitioner=INTEGRATION, reply_to_group="7700301",
                                  recipients=[f"Group/{ALFA_GROUP}"], case="Task/t-1", save_to_journal=True)
    text = base64.b64decode(built["payload"][0]["contentAttachment"]["data"]).decode()
    assert text.splitlines()[:4] == ["Från: Exempelkommun hemsjukvård (SE2120000001-E000000000301#samverkan)",
                                     "Skickat av: Maria Svensson (SE2120000001-P000000003002)", "Ärende: Task/t-1",
                                     "Spara till journal: ja"]
    assert "Hej" in text and text.rstrip().endswith("[mc:c-1]")
    assert built["topic"] == {"text": "Vårdplanering [mc:c-1]"} and mapping.marked(built) == "c-1"
    assert built["priority"] == "urgent" and built["sender"] == {"reference": f"Practitioner/{INTEGRATION}"}
    assert mapping.reply_to(built) == "7700301"


def test_an_attachment_other_than_text_is_undeliverable():
    pdf = {"contentAttachment": {"contentType": "application/pdf", "data": "JVBERi0="}}
    with pytest.raises(mapping.Undeliverable, match="one text attachment"):
        mapping.message_text(_message(payload=[pdf]))


def test_xhtml_payloads_are_read_as_their_text():
    page = f'{XHTML_SKELETON}<html><head><style>p{{}}</style></head><body><p>Rad ett</p><p>Rad &amp; två</p></body></html>'
    assert mapping.read_text("application/xhtml+xml;charset=utf-8", page.encode()) == "Rad ett\n\nRad & två"
    assert mapping.read_text("text/plain", "Hej".encode()) == "Hej"
    with pytest.raises(mapping.Undeliverable):
        mapping.read_text("application/pdf", b"%PDF")


def test_an_inbound_message_reads_as_ours_with_its_millennium_id_as_the_key():
    found = {"id": "472894781.0.-4.0", "priority": "urgent", "sent": "2026-11-24T09:00:00.000Z",
             "topic": {"text": "Sv: Vårdplanering [mc:c-1]"}}
    ours = mapping.from_millennium(found=found, text="Svar\nSpara till journal: ja", category="case-message",
                                   sender="HealthcareService/h-1", sent_by="p-1", recipients=["HealthcareService/h-2"],
                                   answers="c-1", case="t-1", patient={"system": PERSONNUMMER_OID, "value": "191212121212"})
    assert ours["identifier"] == [{"system": MILLENNIUM_COMMUNICATION, "value": "472894781.0.-4.0"}]
    assert ours["topic"] == {"text": "Sv: Vårdplanering"} and ours["priority"] == "urgent"
    assert ours["inResponseTo"] == [{"reference": "Communication/c-1"}] and ours["partOf"] == [{"reference": "Task/t-1"}]
    assert [e["url"].rsplit("/", 1)[1] for e in ours["extension"]] == ["sent-by", "save-to-journal"]


@pytest.mark.parametrize("hostile", [
    {"id": 5}, {"id": "x" * 65}, {"id": "m", "sender": "Practitioner/1"}, {"id": "m", "recipient": ["Group/1"]},
    {"id": "m", "topic": {"text": 7}}, {"id": "m", "category": [{"coding": "notification"}]},
    {"id": "m", "extension": [{"url": mapping.EMAIL_STATUS, "valueCodeableConcept": {"coding": {}}}]},
    {"id": "m", "inResponseTo": {"reference": "Communication/1"}}])
def test_a_malformed_millennium_message_is_named_before_anything_reads_it(hostile):
    assert mapping.malformed(hostile)
    assert mapping.malformed({"id": "472894781.0.-4.0", "recipient": [{"reference": "Group/1"}], "topic": {"text": "Hej"}}) is None


def test_a_failure_notice_names_the_rule_in_swedish():
    notice = mapping.failure_notice(to_practitioner=ANNA_MID, sender_practitioner=INTEGRATION, about={"id": "m-1"},
                                    rule="MC-R7", reason_sv="Kommunikation med kommunen sker via delade inkorgar.",
                                    notice_id="n-1")
    text = base64.b64decode(notice["payload"][0]["contentAttachment"]["data"]).decode()
    assert "Regel: MC-R7" in text and "delade inkorgar" in text
    assert notice["category"][0]["coding"][0]["code"] == "alert" and mapping.marked(notice) == "n-1"


def test_settings_come_from_the_environment_and_a_missing_credential_is_an_error():
    assert from_env({}) is None
    with pytest.raises(ValueError, match="MC_MILLENNIUM_TOKEN_URL"):
        from_env({"MC_MILLENNIUM_BASE_URL": "https://fhir.example/r4"})
    configured = from_env({"MC_MILLENNIUM_BASE_URL": "https://fhir.example/r4/", "MC_MILLENNIUM_TOKEN_URL": "https://t/token",
                           "MC_MILLENNIUM_CLIENT_ID": "c", "MC_MILLENNIUM_INTEGRATION_PRACTITIONER": "1",
                           "MC_MILLENNIUM_PRIVATE_JWK": json.dumps(PRIVATE_JWK), "MC_MILLENNIUM_POLL_SECONDS": "5"})
    assert configured.base_url == "https://fhir.example/r4" and configured.poll_seconds == 5.0
    assert PRIVATE_JWK["d"] not in repr(configured)  # the key is never printed


@pytest.fixture
def client(tenant) -> MillenniumClient:
    return MillenniumClient(settings(), OutboundClient(OutboundSettings()))


def test_a_create_answers_with_the_id_from_location_and_one_token_serves_many_calls(client, tenant):
    built = mapping.to_millennium(message=_message(), item_kind="message", sender=_party(), sender_practitioner=INTEGRATION,
                                  reply_to_group=None, recipients=[f"Practitioner/{ANNA_MID}"], case=None, save_to_journal=False)
    first = client.create_communication(built, request_id="r-1")
    second = client.create_communication(built, request_id="r-2")
    assert first.id in tenant.communications and first.version == "0" and first.id != second.id
    assert tenant.counters.tokens == 1


def test_an_expired_token_is_renewed_once_and_a_refusal_is_permanent(client, tenant):
    assert client.find_patient(system=PERSONNUMMER_OID, value="191212121212") == PATIENT_MID
    tenant.inject("patient", "expire-token")
    client._patients.clear()
    assert client.find_patient(system=PERSONNUMMER_OID, value="191212121212") == PATIENT_MID
    assert tenant.counters.tokens == 2
    with pytest.raises(MillenniumError) as refused:
        client.create_communication({"resourceType": "Communication", "status": "preliminary"}, request_id="r")
    assert refused.value.status == 422 and not refused.value.transient


@pytest.mark.parametrize(("fault", "retry_after"), [("503", 30.0), ("429", 5.0), ("500", None)])
def test_server_faults_are_transient_with_their_retry_after(client, tenant, fault, retry_after):
    tenant.inject("search", fault)
    with pytest.raises(MillenniumError) as failed:
        client.search_communications([("_id", "x")])
    assert failed.value.transient and failed.value.retry_after == retry_after


def test_a_lost_answer_is_transient_and_unanswered(client, tenant):
    tenant.inject("create", "drop-after-store")
    built = mapping.to_millennium(message=_message(), item_kind="message", sender=_party(), sender_practitioner=INTEGRATION,
                                  reply_to_group=None, recipients=[f"Practitioner/{ANNA_MID}"], case=None, save_to_journal=False)
    with pytest.raises(MillenniumError) as lost:
        client.create_communication(built, request_id="r-1")
    assert lost.value.transient and lost.value.unanswered and len(tenant.communications) == 1


def test_the_email_status_patch_needs_the_current_version(client, tenant):
    written = tenant.write(sender=ANNA_MID, recipients=[f"Group/{ALFA_GROUP}"], text="Hej")
    client.patch_email_status(written, version="0", status="completed")
    assert tenant.communications[written].email_status == "completed"
    with pytest.raises(MillenniumError) as stale:
        client.patch_email_status(written, version="0", status="completed")
    assert stale.value.status == 412


def test_a_search_without_the_four_parameters_is_refused_like_millennium_does(client, tenant):
    with pytest.raises(MillenniumError) as refused:
        client.search_communications([("category", "notification")])
    assert refused.value.status == 400 and not refused.value.transient
