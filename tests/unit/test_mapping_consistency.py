"""Every code has its table row and every table row its CodeSystem concept."""

import re

from adapter.mappings import codes, table

RULE = re.compile(r"^MC-R([1-9]|[1-3][0-9]|4[0-7])$")


def test_every_organization_kind_has_exactly_one_row():
    rows = [r["code"] for r in table("organization_kinds")]
    assert sorted(rows) == sorted(codes("organization-kind"))


def test_unit_inbox_rows_use_known_kinds_and_only_units_have_them():
    unit_kinds = {r["code"] for r in table("organization_kinds") if r["is_unit"] == "true"}
    for row in table("unit_inboxes"):
        assert row["organization_kind"] in unit_kinds
        assert row["inbox_kind"] in codes("inbox-kind")
    assert {r["organization_kind"] for r in table("unit_inboxes")} == unit_kinds


def test_every_role_has_exactly_one_row():
    assert sorted(r["code"] for r in table("roles")) == sorted(codes("role"))


def test_every_row_cites_a_rule_of_the_routine():
    for name in ("organization_kinds", "unit_inboxes", "roles"):
        for row in table(name):
            assert RULE.match(row["rule"]), (name, row)
            assert row["rule"] in codes("rule")


def test_the_rule_code_system_holds_all_47_rules():
    assert codes("rule") == {f"MC-R{n}" for n in range(1, 48)}


def test_every_message_category_has_one_item_row_and_refused_ones_have_no_item():
    rows = {r["category"]: r for r in table("category_items")}
    assert sorted(rows) == sorted(codes("message-category"))
    for category, row in rows.items():
        assert (row["item_kind"] == "") == (row["rule"] == "MC-R10"), category
        assert row["item_kind"] == "" or row["item_kind"] in codes("item-kind")
        assert row["rule"] in codes("rule")


def test_flow_rows_are_numbered_in_order_and_cite_rules():
    rows = table("flow_rules")
    assert [int(r["order"]) for r in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        assert row["rule"] in codes("rule") and row["decision"] in ("allow", "reject")
        assert row["reason_en"] and row["reason_sv"]
    assert all(rows[-1][c] == "*" for c in ("category", "sender_inbox", "recipient_inbox", "caller"))


def test_the_policys_system_categories_are_the_tables():
    system = {r["category"] for r in table("category_items") if r["system_category"] == "true"}
    row = next(r for r in table("flow_rules") if r["rule"] == "MC-R19")
    assert set(row["category"].split("|")) == system


def test_access_rules_cover_every_caller_inbox_and_relation_once():
    rows = table("access_rules")
    keys = [(r["caller"], r["inbox"], r["relation"]) for r in rows]
    assert len(keys) == len(set(keys))
    for row in rows:
        assert row["sees"] in ("true", "false") and row["sends_as"] in ("true", "false")
        assert row["rule"] in codes("rule")
        assert not (row["sends_as"] == "true" and row["sees"] == "false"), "nobody sends as an inbox they cannot see"
    assert ("client", "personal", "other") in keys  # clients never act in personal inboxes


def test_every_item_kind_says_whether_it_gives_sight_of_its_focus():
    rows = table("item_sight")
    assert sorted(r["item_kind"] for r in rows) == sorted(codes("item-kind"))
    for row in rows:
        assert row["rule"] in codes("rule")
    assert next(r for r in rows if r["item_kind"] == "reminder")["focus_types"] == ""  # a user's own Task grants nothing


def test_client_capabilities_cite_rules():
    rows = table("client_capabilities")
    assert {r["capability"] for r in rows} == {"ehr", "result-source"}
    assert all(r["rule"] in codes("rule") for r in rows)


def test_every_search_parameter_of_ours_is_published():
    from adapter.app import build_registry
    from adapter.identifiers import BASE
    from adapter.resources import data_dir

    published = {p.stem for p in (data_dir("fhir_profiles") / "SearchParameter").glob("*.json")}
    for definition in build_registry().resources.values():
        for param in definition.search_params.values():
            if param.definition and param.definition.startswith(BASE):
                assert param.definition.rsplit("/", 1)[1] in published, param.definition


def test_every_message_event_has_one_row_citing_a_rule_and_a_known_focus_handling():
    rows = table("message_events")
    assert sorted(r["event"] for r in rows) == sorted(codes("message-event"))
    for row in rows:
        assert row["rule"] in codes("rule") and row["handling"] in ("create", "update")
        assert all(c in codes("message-category") for c in row["categories"].split("|") if c)


def test_every_item_kind_says_whether_and_how_it_goes_to_millennium():
    rows = {r["item_kind"]: r for r in table("millennium_items")}
    assert sorted(rows) == sorted(codes("item-kind"))
    for kind, row in rows.items():
        assert row["rule"] in codes("rule") and row["upstream"] in ("true", "false"), kind
        assert (row["millennium_category"] != "") == (row["upstream"] == "true"), kind
        assert row["millennium_category"] in ("", "notification", "reminder", "alert"), kind  # communication-category


def test_every_request_priority_has_a_millennium_priority():
    rows = {r["priority"]: r for r in table("millennium_priorities")}
    assert sorted(rows) == ["asap", "routine", "stat", "urgent"]  # FHIR's request-priority
    assert {r["millennium_priority"] for r in rows.values()} <= {"routine", "urgent"}
    assert all(r["rule"] in codes("rule") for r in rows.values())


def test_every_inbound_millennium_category_reads_as_a_message_category_for_each_answer():
    rows = table("millennium_inbound")
    categories = {r["millennium_category"] for r in rows}
    assert {(c, a) for c in categories for a in ("nothing", "case", "message")} == {(r["millennium_category"], r["answers"]) for r in rows}
    sent = {r["millennium_category"] for r in table("millennium_items") if r["upstream"] == "true"}
    for row in rows:
        assert row["category"] in codes("message-category") and row["rule"] in codes("rule"), row
        assert row["millennium_category"] in sent, row  # what we read is what we would send


def test_every_inbox_kind_has_one_watch_requirement_citing_its_rule():
    rows = {r["inbox_kind"]: r for r in table("watch_requirements")}
    assert sorted(rows) == sorted(codes("inbox-kind") | {"personal"})
    assert {kind: row["rule"] for kind, row in rows.items()} == {
        "personal": "MC-R24", "unit-meddelande": "MC-R34", "unit-samverkan": "MC-R35", "function": "MC-R36"}
    assert all(int(row["watches_per_day"]) >= 1 for row in rows.values())


def test_follow_up_frames_name_item_kinds_and_their_settings_are_configurable():
    from adapter.config import Config

    rows = table("followup_frames") + table("watch_requirements")
    for row in table("followup_frames"):
        assert row["item_kind"] in codes("item-kind") and RULE.match(row["rule"])
    for row in rows:
        if row["setting"]:
            assert hasattr(Config(), row["setting"].removeprefix("MC_").lower()), row
    deadlines = {r["item_kind"]: r["days"] for r in table("item_deadlines")}
    assert {r["item_kind"]: r["days"] for r in table("followup_frames") if r["item_kind"] in deadlines} == deadlines


def test_the_opening_hours_have_a_regional_default_citing_mc_r34():
    [default] = [r for r in table("opening_hours") if not r["unit"]]
    assert default["rule"] == "MC-R34" and default["weekdays"] == "mon tue wed thu fri"


def test_roles_that_follow_up_reach_below_their_organisation_or_everywhere():
    follows = {r["code"]: r["follows_up"] for r in table("roles") if r["follows_up"]}
    assert follows == {"verksamhetschef": "below", "enhetschef": "below", "forvaltning": "all"}
