"""The flow policy: hand-written expectations per rule, and invariants stated apart from the table."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.mappings import codes
from adapter.messaging.policy import CALLERS, INBOXES, PARTIES, Endpoint, Flow, FlowBlocked, FlowPolicy, party_of

POLICY = FlowPolicy.from_table()
CARE_PERSONAL = Endpoint("personal", "care")
MUNICIPAL_PERSONAL = Endpoint("personal", "municipal")
MUNICIPAL_SAMVERKAN = Endpoint("unit-samverkan", "municipal")
CARE_SAMVERKAN = Endpoint("unit-samverkan", "care")
CARE_MEDDELANDE = Endpoint("unit-meddelande", "care")
SCHOOL_SAMVERKAN = Endpoint("unit-samverkan", "school-other")
SCHOOL_PERSONAL = Endpoint("personal", "school-other")


def flow(sender, recipient, category="message", caller="user", patient=False, save=False, to_self=False, dialogue=False):
    return Flow(category, sender, recipient, caller, patient, save, to_self, dialogue)


def rule(decision_flow) -> str:
    decision = POLICY.decide(decision_flow)
    return ("allow " if decision.allowed else "reject ") + decision.rule


def test_municipality_cannot_write_from_a_personal_inbox_mc_r7():
    assert rule(flow(MUNICIPAL_PERSONAL, CARE_SAMVERKAN)) == "reject MC-R7"


def test_municipality_cannot_be_written_to_in_a_personal_inbox_mc_r7():
    assert rule(flow(CARE_PERSONAL, MUNICIPAL_PERSONAL)) == "reject MC-R7"
    assert rule(flow(MUNICIPAL_SAMVERKAN, MUNICIPAL_PERSONAL)) == "reject MC-R7"


def test_municipal_and_care_shared_inboxes_reach_each_other_mc_r5():
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_SAMVERKAN)) == "allow MC-R5"
    assert rule(flow(CARE_MEDDELANDE, MUNICIPAL_SAMVERKAN)) == "allow MC-R5"


def test_a_clinician_writes_to_a_municipal_shared_inbox_from_a_personal_inbox_mc_r3():
    assert rule(flow(CARE_PERSONAL, MUNICIPAL_SAMVERKAN)) == "allow MC-R3"


def test_a_shared_inbox_answers_a_clinicians_personal_inbox_mc_r38():
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_PERSONAL)) == "allow MC-R38"


def test_schools_are_reached_through_their_samverkan_inbox_only_mc_r3():
    assert rule(flow(CARE_PERSONAL, SCHOOL_PERSONAL)) == "reject MC-R3"
    assert rule(flow(SCHOOL_PERSONAL, CARE_SAMVERKAN)) == "reject MC-R3"
    assert rule(flow(CARE_SAMVERKAN, SCHOOL_SAMVERKAN, category="case-start")) == "allow MC-R5"


def test_a_case_starts_in_a_shared_inbox_mc_r3():
    assert rule(flow(CARE_SAMVERKAN, CARE_PERSONAL, category="case-start")) == "reject MC-R3"


def test_messages_without_a_patient_are_fine_between_care_personal_inboxes_mc_r9():
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL)) == "allow MC-R9"


def test_a_patient_message_between_personal_inboxes_needs_save_to_journal_mc_r6():
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL, patient=True)) == "reject MC-R6"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL, patient=True, save=True)) == "allow MC-R9"


def test_a_patient_message_to_a_shared_inbox_needs_save_to_journal_mc_r8():
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_SAMVERKAN, patient=True)) == "reject MC-R8"
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_SAMVERKAN, patient=True, save=True)) == "allow MC-R5"


@pytest.mark.parametrize("category", ["erecept-renewal", "patient-contact-request", "consult", "followup-booking"])
def test_the_four_flows_are_never_messages_mc_r10(category):
    decision = POLICY.decide(flow(CARE_SAMVERKAN, CARE_SAMVERKAN, category=category, caller="adapter"))
    assert (decision.allowed, decision.rule) == (False, "MC-R10")


def test_the_consult_refusal_names_the_consult_flow_mc_r10():
    decision = POLICY.decide(flow(CARE_PERSONAL, CARE_SAMVERKAN, category="consult"))
    assert "ServiceRequest" in decision.reason_en and "consult function inbox" in decision.reason_en


@pytest.mark.parametrize("category", ["read-receipt", "erecept-error", "fk-question", "delivery-failure"])
def test_users_cannot_send_system_messages_but_clients_and_the_adapter_can_mc_r19(category):
    assert rule(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category)) == "reject MC-R19"
    assert POLICY.decide(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category, caller="client")).allowed
    assert POLICY.decide(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category, caller="adapter")).allowed


def test_a_reminder_to_someone_else_needs_a_dialogue_mc_r21():
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL, category="reminder")) == "reject MC-R21"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL, category="reminder", dialogue=True)) == "allow MC-R9"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL, category="reminder", to_self=True)) == "allow MC-R9"


def test_a_reminder_goes_to_a_personal_inbox_mc_r20():
    assert rule(flow(CARE_PERSONAL, CARE_SAMVERKAN, category="reminder", to_self=True)) == "reject MC-R20"


def test_users_without_an_assignment_neither_send_nor_receive_mc_r1():
    assert rule(flow(Endpoint("personal", "unassigned"), CARE_PERSONAL)) == "reject MC-R1"
    assert rule(flow(CARE_PERSONAL, Endpoint("personal", "unassigned"))) == "reject MC-R1"


def test_check_raises_flow_blocked_with_the_rule_and_both_languages():
    with pytest.raises(FlowBlocked) as caught:
        POLICY.check(flow(CARE_PERSONAL, MUNICIPAL_PERSONAL), expression="Communication.recipient[0]")
    issue = caught.value.issues[0]
    assert (issue.rule, issue.expression) == ("MC-R7", "Communication.recipient[0]")
    assert issue.text and issue.diagnostics and issue.text != issue.diagnostics


def test_party_of_a_user_with_any_municipal_role_is_municipal():
    assert party_of({"region-unit", "municipality"}) == "municipal"
    assert party_of({"school"}) == "school-other"
    assert party_of({"region-unit", "school"}) == "care"
    assert party_of(set()) == "unassigned"


endpoints = st.builds(Endpoint, st.sampled_from(sorted(INBOXES)), st.sampled_from(sorted(PARTIES)))
flows = st.builds(
    Flow, st.sampled_from(sorted(codes("message-category"))), endpoints, endpoints, st.sampled_from(sorted(CALLERS)),
    st.booleans(), st.booleans(), st.booleans(), st.booleans(),
)
NEVER_MESSAGES = {"erecept-renewal", "patient-contact-request", "consult", "followup-booking"}
SYSTEM = {"read-receipt", "erecept-error", "fk-question", "delivery-failure"}


def _invariants_hold(f: Flow) -> None:
    decision = POLICY.decide(f)  # totality: a decision for every combination, no exception
    assert decision.rule in codes("rule")
    assert decision.row != POLICY.catch_all_row, f"no row of the routine decides {f}"
    if not decision.allowed:
        assert decision.reason_en and decision.reason_sv
        return
    ends = (f.sender, f.recipient)
    assert Endpoint("personal", "municipal") not in ends
    assert not any(e.inbox == "personal" and e.party in ("unassigned", "school-other") for e in ends)
    assert not (f.patient and not f.save_to_journal)
    assert f.category not in NEVER_MESSAGES
    assert not (f.category in SYSTEM and f.caller == "user")
    assert not (f.category == "case-start" and f.recipient.inbox == "personal")


@settings(max_examples=3000, deadline=None)
@given(flows)
def test_every_flow_gets_a_decision_and_no_allowed_one_breaks_an_invariant(f):
    _invariants_hold(f)


def test_every_combination_of_the_dimensions_is_decided_by_a_rule_of_the_routine():
    categories = sorted(codes("message-category"))
    ends = [Endpoint(i, p) for i in sorted(INBOXES) for p in sorted(PARTIES)]
    for category, sender, recipient, caller in itertools.product(categories, ends, ends, sorted(CALLERS)):
        for patient, save, to_self, dialogue in itertools.product((False, True), repeat=4):
            _invariants_hold(Flow(category, sender, recipient, caller, patient, save, to_self, dialogue))
