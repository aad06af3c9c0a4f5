import pytest

from adapter.directory.rules import administers_directory, check_merge, is_municipal, is_unit, unit_inboxes
from adapter.errors import RuleViolation


def test_region_units_get_a_meddelande_and_a_samverkan_inbox_mc_r29():
    specs = unit_inboxes("region-unit")
    assert sorted(s.inbox_kind for s in specs) == ["unit-meddelande", "unit-samverkan"]
    assert sorted(s.identifier("SE1-E1") for s in specs) == ["SE1-E1#meddelande", "SE1-E1#samverkan"]


@pytest.mark.parametrize("kind", ["private-provider", "municipality"])
def test_private_providers_and_municipalities_get_two_inboxes_mc_r29(kind):
    assert len(unit_inboxes(kind)) == 2


@pytest.mark.parametrize("kind", ["school", "other"])
def test_schools_and_other_actors_get_only_a_samverkan_inbox_mc_r3(kind):
    assert [s.inbox_kind for s in unit_inboxes(kind)] == ["unit-samverkan"]


def test_a_verksamhet_has_no_inboxes_and_is_not_a_unit():
    assert unit_inboxes("verksamhet") == []
    assert not is_unit("verksamhet")


def test_only_municipality_units_are_municipal_mc_r7():
    assert is_municipal("municipality")
    assert not any(is_municipal(k) for k in ("region-unit", "private-provider", "school", "other", "verksamhet"))


def test_only_forvaltning_administers_the_directory_mc_r32():
    assert administers_directory("forvaltning")
    assert not administers_directory("lakare")


def _merge(**overrides):
    arguments = dict(unit_id="a", unit_kind="region-unit", unit_active=True, current_successor=None,
                     successor_id="b", successor_kind="region-unit", successor_active=True)
    arguments.update(overrides)
    return check_merge(**arguments)


def test_a_unit_cannot_be_merged_into_itself_mc_r31():
    with pytest.raises(RuleViolation) as caught:
        _merge(successor_id="a")
    assert caught.value.rule == "MC-R31"


def test_a_unit_cannot_be_merged_into_a_verksamhet_mc_r31():
    with pytest.raises(RuleViolation):
        _merge(successor_kind="verksamhet")


def test_merging_into_a_closed_unit_is_refused_mc_r31():
    with pytest.raises(RuleViolation):
        _merge(successor_active=False)


def test_repeating_a_merge_is_recognised_as_done():
    assert _merge(unit_active=False, current_successor="b") is True


def test_merging_a_merged_unit_elsewhere_is_refused():
    with pytest.raises(RuleViolation):
        _merge(unit_active=False, current_successor="c")
