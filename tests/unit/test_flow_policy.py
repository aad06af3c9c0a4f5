"""The flow policy: hand-written expectations per rule, and invariants stated apart from the table."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.mappings import codes
from adapter.messaging.policy import CALLERS, INBOXES, PARTIES, Endpoint, Flow, FlowBlocked, FlowPolicy, party_of

POLICY = FlowPolicy.from_table()
VGR, DELTA, KOMMUN_A, KOMMUN_B, SKOLA = "2321000131", "5560000001", "2120000001", "2120000019", "2020000001"


def at(inbox: str, party: str, *providers: str) -> Endpoint:
    return Endpoint(inbox, party, frozenset(providers))


CARE_PERSONAL = at("personal", "care", VGR)
CARE_PERSONAL_2 = at("personal", "care", VGR)
DELTA_PERSONAL = at("personal", "care", DELTA)
BOTH_PERSONAL = at("personal", "care", VGR, DELTA)  # a user with roles at the region and at Delta
MUNICIPAL_PERSONAL = at("personal", "municipal", KOMMUN_A)
MUNICIPAL_SAMVERKAN = at("unit-samverkan", "municipal", KOMMUN_A)
MUNICIPAL_B_SAMVERKAN = at("unit-samverkan", "municipal", KOMMUN_B)
MUNICIPAL_MEDDELANDE = at("unit-meddelande", "municipal", KOMMUN_A)
CARE_SAMVERKAN = at("unit-samverkan", "care", VGR)
CARE_MEDDELANDE = at("unit-meddelande", "care", VGR)
CARE_FUNCTION = at("function", "care", VGR)
DELTA_SAMVERKAN = at("unit-samverkan", "care", DELTA)
DELTA_MEDDELANDE = at("unit-meddelande", "care", DELTA)
SCHOOL_SAMVERKAN = at("unit-samverkan", "school-other", SKOLA)
SCHOOL_PERSONAL = at("personal", "school-other", SKOLA)


def flow(sender, recipient, category="message", caller="user", patient=False, save=False, to_self=False, dialogue=False,
         reply_to_shared=False):
    return Flow(category, sender, recipient, caller, patient, save, to_self, dialogue, reply_to_shared)


def rule(decision_flow) -> str:
    decision = POLICY.decide(decision_flow)
    return ("allow " if decision.allowed else "reject ") + decision.rule


# The decisions issue #11 spells out, by hand (DESIGN.md pins MC-R7 and MC-R3 to the routine's reading).

@pytest.mark.parametrize("recipient", [CARE_PERSONAL, DELTA_PERSONAL, BOTH_PERSONAL])
def test_a_municipal_shared_inbox_never_writes_to_a_personal_inbox_mc_r7(recipient):
    assert rule(flow(MUNICIPAL_SAMVERKAN, recipient)) == "reject MC-R7"
    assert rule(flow(MUNICIPAL_MEDDELANDE, recipient, category="case-message")) == "reject MC-R7"


@pytest.mark.parametrize("sender", [CARE_PERSONAL, DELTA_PERSONAL, BOTH_PERSONAL])
def test_no_personal_inbox_writes_to_a_municipal_shared_inbox_mc_r7(sender):
    assert rule(flow(sender, MUNICIPAL_SAMVERKAN)) == "reject MC-R7"
    assert rule(flow(sender, MUNICIPAL_MEDDELANDE, patient=True, save=True)) == "reject MC-R7"


def test_a_municipal_users_personal_inbox_is_never_used_mc_r7():
    for other in (CARE_SAMVERKAN, CARE_PERSONAL, MUNICIPAL_SAMVERKAN, MUNICIPAL_PERSONAL):
        assert rule(flow(MUNICIPAL_PERSONAL, other)) == "reject MC-R7"
        assert rule(flow(other, MUNICIPAL_PERSONAL)) == "reject MC-R7"


def test_schools_and_other_actors_meet_personal_inboxes_at_neither_end_mc_r3():
    assert rule(flow(SCHOOL_SAMVERKAN, CARE_PERSONAL)) == "reject MC-R3"
    assert rule(flow(CARE_PERSONAL, SCHOOL_SAMVERKAN)) == "reject MC-R3"
    assert rule(flow(SCHOOL_PERSONAL, CARE_SAMVERKAN)) == "reject MC-R3"
    assert rule(flow(CARE_PERSONAL, SCHOOL_PERSONAL)) == "reject MC-R3"


def test_personal_inboxes_at_two_care_providers_do_not_meet_mc_r3():
    assert rule(flow(CARE_PERSONAL, DELTA_PERSONAL)) == "reject MC-R3"
    assert rule(flow(DELTA_PERSONAL, CARE_PERSONAL, patient=True, save=True)) == "reject MC-R3"


def test_a_recipient_working_for_another_provider_too_makes_the_exchange_cross_provider_mc_r3():
    assert rule(flow(CARE_PERSONAL, BOTH_PERSONAL)) == "reject MC-R3"
    assert rule(flow(CARE_SAMVERKAN, BOTH_PERSONAL)) == "reject MC-R3"


def test_a_case_starts_between_the_providers_samverkan_inboxes_mc_r3():
    assert rule(flow(CARE_SAMVERKAN, DELTA_SAMVERKAN, category="case-start")) == "allow MC-R5"
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_SAMVERKAN, category="case-start")) == "allow MC-R5"
    assert rule(flow(CARE_SAMVERKAN, SCHOOL_SAMVERKAN, category="case-start")) == "allow MC-R5"


def test_a_free_standing_message_between_providers_goes_samverkan_to_samverkan_mc_r5():
    assert rule(flow(CARE_SAMVERKAN, DELTA_SAMVERKAN)) == "allow MC-R5"
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_SAMVERKAN)) == "allow MC-R5"
    assert rule(flow(MUNICIPAL_SAMVERKAN, MUNICIPAL_B_SAMVERKAN)) == "allow MC-R5"


@pytest.mark.parametrize("sender,recipient", [
    (CARE_MEDDELANDE, DELTA_SAMVERKAN), (CARE_FUNCTION, MUNICIPAL_SAMVERKAN), (CARE_MEDDELANDE, MUNICIPAL_MEDDELANDE),
    (CARE_SAMVERKAN, DELTA_MEDDELANDE), (MUNICIPAL_SAMVERKAN, CARE_MEDDELANDE), (MUNICIPAL_SAMVERKAN, CARE_FUNCTION),
])
def test_meddelande_and_function_inboxes_are_not_used_between_providers_mc_r3(sender, recipient):
    assert rule(flow(sender, recipient)) == "reject MC-R3"


@pytest.mark.parametrize("sender,recipient,expected", [
    (CARE_PERSONAL, CARE_SAMVERKAN, "reject MC-R3"),  # from a personal inbox
    (CARE_SAMVERKAN, CARE_PERSONAL, "reject MC-R3"),  # to a personal inbox
    (CARE_SAMVERKAN, CARE_MEDDELANDE, "reject MC-R3"),  # to a meddelande inbox
    (CARE_SAMVERKAN, CARE_FUNCTION, "reject MC-R3"),  # to a function inbox
    (MUNICIPAL_SAMVERKAN, CARE_MEDDELANDE, "reject MC-R3"),
    (CARE_MEDDELANDE, CARE_SAMVERKAN, "allow MC-R5"),  # within one provider, any shared inbox starts one
    (CARE_MEDDELANDE, DELTA_SAMVERKAN, "reject MC-R3"),  # across providers, samverkan to samverkan only
])
def test_a_case_starts_only_from_a_shared_inbox_into_a_samverkan_inbox_mc_r3(sender, recipient, expected):
    assert rule(flow(sender, recipient, category="case-start")) == expected


def test_a_reply_to_a_shared_inboxs_message_never_goes_to_a_personal_inbox_mc_r38():
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL_2, reply_to_shared=True)) == "reject MC-R38"
    assert rule(flow(CARE_MEDDELANDE, CARE_PERSONAL, reply_to_shared=True)) == "reject MC-R38"
    assert rule(flow(CARE_PERSONAL, CARE_MEDDELANDE, reply_to_shared=True)) == "allow MC-R38"


def test_within_one_provider_personal_inboxes_exchange_as_before_mc_r9_mc_r6():
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL_2)) == "allow MC-R9"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL_2, patient=True)) == "reject MC-R6"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL_2, patient=True, save=True)) == "allow MC-R9"


def test_a_region_shared_inbox_writes_to_its_own_clinicians_mc_r38():
    assert rule(flow(CARE_MEDDELANDE, CARE_PERSONAL)) == "allow MC-R38"
    assert rule(flow(CARE_PERSONAL, CARE_MEDDELANDE)) == "allow MC-R38"


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
def test_only_the_ehr_integration_and_the_adapter_send_system_messages_mc_r19(category):
    assert rule(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category)) == "reject MC-R19"
    assert rule(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category, caller="client")) == "reject MC-R19"
    assert POLICY.decide(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category, caller="ehr")).allowed
    assert POLICY.decide(flow(CARE_SAMVERKAN, CARE_PERSONAL, category=category, caller="adapter")).allowed
    assert rule(flow(MUNICIPAL_SAMVERKAN, CARE_PERSONAL, category=category, caller="ehr")) == "reject MC-R7"


def test_a_reminder_to_someone_else_needs_a_dialogue_mc_r21():
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL_2, category="reminder")) == "reject MC-R21"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL_2, category="reminder", dialogue=True)) == "allow MC-R9"
    assert rule(flow(CARE_PERSONAL, CARE_PERSONAL, category="reminder", to_self=True)) == "allow MC-R9"


def test_a_reminder_to_someone_else_follows_the_party_rules_of_a_message_mc_r7_mc_r3():
    assert rule(flow(MUNICIPAL_PERSONAL, CARE_PERSONAL, category="reminder", dialogue=True)) == "reject MC-R7"
    assert rule(flow(SCHOOL_PERSONAL, CARE_PERSONAL, category="reminder", dialogue=True)) == "reject MC-R3"
    assert rule(flow(DELTA_PERSONAL, CARE_PERSONAL, category="reminder", dialogue=True)) == "reject MC-R3"


def test_a_reminder_goes_to_a_personal_inbox_mc_r20():
    assert rule(flow(CARE_PERSONAL, CARE_SAMVERKAN, category="reminder", to_self=True)) == "reject MC-R20"


def test_users_without_an_assignment_neither_send_nor_receive_mc_r1():
    assert rule(flow(at("personal", "unassigned"), CARE_PERSONAL)) == "reject MC-R1"
    assert rule(flow(CARE_PERSONAL, at("personal", "unassigned"))) == "reject MC-R1"


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


PROVIDER_SETS = {"same": (frozenset({VGR}), frozenset({VGR})), "other": (frozenset({VGR}), frozenset({DELTA})),
                 "also-other": (frozenset({VGR}), frozenset({VGR, DELTA}))}
NEVER_MESSAGES = {"erecept-renewal", "patient-contact-request", "consult", "followup-booking"}
SYSTEM = {"read-receipt", "erecept-error", "fk-question", "delivery-failure"}
OUTSIDE_CARE = {"municipal", "school-other"}


def _invariants_hold(f: Flow) -> None:
    """What must hold of every allowed decision, stated apart from the table."""
    decision = POLICY.decide(f)  # totality: a decision for every combination, no exception
    assert decision.rule in codes("rule")
    assert decision.row != POLICY.catch_all_row, f"no row of the routine decides {f}"
    if not decision.allowed:
        assert decision.reason_en and decision.reason_sv
        return
    ends = (f.sender, f.recipient)
    personal = [e for e in ends if e.inbox == "personal"]
    # MC-R7, MC-R3: no personal inbox at one end with a municipal, school or other-actor party at the other
    assert not (personal and any(e.party in OUTSIDE_CARE for e in ends))
    assert not any(e.party == "unassigned" for e in personal)
    # MC-R3: nothing personal crosses care providers, and across them only samverkan meets samverkan
    assert f.same_provider or not personal
    assert f.same_provider or (f.sender.inbox == f.recipient.inbox == "unit-samverkan")
    assert not (f.patient and not f.save_to_journal)
    assert f.category not in NEVER_MESSAGES
    assert not (f.category in SYSTEM and f.caller in ("user", "client"))
    assert not (f.category == "case-start" and (f.recipient.inbox != "unit-samverkan" or f.sender.inbox == "personal"))
    assert not (f.reply_to_shared and f.recipient.inbox == "personal")


endpoint_shapes = st.tuples(st.sampled_from(sorted(INBOXES)), st.sampled_from(sorted(PARTIES)))
flows = st.builds(
    lambda category, s, r, providers, caller, flags: Flow(
        category, Endpoint(*s, PROVIDER_SETS[providers][0]), Endpoint(*r, PROVIDER_SETS[providers][1]), caller, *flags),
    st.sampled_from(sorted(codes("message-category"))), endpoint_shapes, endpoint_shapes,
    st.sampled_from(sorted(PROVIDER_SETS)), st.sampled_from(sorted(CALLERS)), st.tuples(*[st.booleans()] * 5),
)


@settings(max_examples=3000, deadline=None)
@given(flows)
def test_every_flow_gets_a_decision_and_no_allowed_one_breaks_an_invariant(f):
    _invariants_hold(f)


def test_every_combination_of_the_dimensions_is_decided_by_a_rule_of_the_routine():
    """Exhaustive: 12 categories x 16 senders x 16 recipients x 4 callers x 3 provider layouts x 2^5 flags."""
    categories = sorted(codes("message-category"))
    shapes = [(i, p) for i in sorted(INBOXES) for p in sorted(PARTIES)]
    checked = 0
    for category, sender, recipient, caller, providers in itertools.product(
            categories, shapes, shapes, sorted(CALLERS), sorted(PROVIDER_SETS)):
        ends = (Endpoint(*sender, PROVIDER_SETS[providers][0]), Endpoint(*recipient, PROVIDER_SETS[providers][1]))
        for flags in itertools.product((False, True), repeat=5):
            _invariants_hold(Flow(category, *ends, caller, *flags))
            checked += 1
    assert checked == 12 * 16 * 16 * 4 * 3 * 32
