"""Folders (MC-R13), priority items (MC-R14) and the status machine (MC-R26, MC-R27)."""

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from adapter.errors import RuleViolation
from adapter.inbox import rules
from adapter.mappings import codes, table

STATUSES = ["requested", "in-progress", "on-hold", "completed"]
ALLOWED = {  # written out by hand from the routine, not read from the table
    ("requested", "in-progress"),  # opening a waiting message makes it opened (MC-R26)
    ("in-progress", "on-hold"),  # pause (MC-R27)
    ("on-hold", "in-progress"),  # resume (MC-R27)
    ("in-progress", "completed"),
    ("on-hold", "completed"),
}
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("current, wanted", list(itertools.product(STATUSES, STATUSES)))
def test_the_state_machine_against_every_transition(current, wanted):
    if current == wanted or (current, wanted) in ALLOWED:
        rules.check_transition(current, wanted)
    else:
        with pytest.raises(RuleViolation) as caught:
            rules.check_transition(current, wanted)
        assert caught.value.rule == "MC-R26"


def test_business_status_goes_with_status():
    assert [rules.item_status(s) for s in STATUSES] == ["waiting", "opened", "paused", "done"]


def test_every_item_kind_has_a_home_folder_and_every_folder_but_priority_and_trash_has_kinds():
    assert sorted(r["item_kind"] for r in table("item_folders")) == sorted(codes("item-kind"))
    homes = {rules.home_folder(k) for k in codes("item-kind")}
    assert homes == codes("folder") - {"priority", "trash"}


@pytest.mark.parametrize("kind, folder", [
    ("message", "messages"), ("result", "results"), ("order-cosign", "orders"), ("document-sign", "documents"),
    ("referral-answer", "documents"), ("reminder", "work-items"), ("unsigned-documentation", "work-items"),
    ("erecept-error", "messages"), ("read-receipt", "notifications"),
])
def test_home_folders_mc_r13(kind, folder):
    assert rules.home_folder(kind) == folder


def test_priority_items_are_past_due_erecept_errors_or_high_priority_mc_r14():
    def priority(**kw):
        args = dict(kind="message", priority=None, due=None, status="requested", now=NOW)
        args.update(kw)
        return rules.is_priority_item(**args)

    assert not priority()
    assert priority(kind="erecept-error")
    assert all(priority(priority=p) for p in ("urgent", "asap", "stat"))
    assert not priority(priority="routine")
    assert priority(due=NOW - timedelta(minutes=1)) and not priority(due=NOW + timedelta(minutes=1))
    assert not priority(kind="erecept-error", status="completed")


def test_the_table_rows_cite_rules():
    for name in ("item_folders", "item_statuses", "item_transitions", "priority_items", "item_deadlines", "signable_items"):
        for row in table(name):
            assert row["rule"] in codes("rule"), (name, row)


def test_signable_kinds_are_item_kinds():
    assert {r["item_kind"] for r in table("signable_items")} <= codes("item-kind")


def test_the_co_sign_table_names_pinned_roles_and_known_co_signers_mc_r16():
    for row in table("cosign_roles"):
        assert row["role"] in codes("role") and row["rule"] in codes("rule")
        assert row["may_order"] in ("true", "false")
        assert row["cosigner"] in (("supervisor", "physician", "none") if row["may_order"] == "true" else ("",))
    rows = {r["role"]: r for r in table("cosign_roles")}
    assert rows["lakare"]["cosigner"] == "none"
    assert rows["student"]["may_order"] == "false"  # students propose, they do not order (MC-R15)
