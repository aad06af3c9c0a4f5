"""Ids the adapter assigns are version 7 UUIDs: unique, valid FHIR ids, in the order they were made (#17)."""

from __future__ import annotations

import re
import uuid

from adapter.fhir.service import new_id
from adapter.uuids import time_ordered_uuid

FHIR_ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}")


def test_an_assigned_id_is_a_version_7_uuid_and_a_valid_fhir_id():
    value = new_id()
    parsed = uuid.UUID(value)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == value and FHIR_ID.fullmatch(value)


def test_the_id_carries_the_millisecond_it_was_made():
    made = 1_796_000_000_123_456_789
    assert int(time_ordered_uuid(made).replace("-", "")[:12], 16) == 1_796_000_000_123


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones():
    ids = [time_ordered_uuid(1_796_000_000_000_000_000 + step * 1_000_000) for step in range(200)]
    assert ids == sorted(ids)


def test_ids_made_in_one_millisecond_differ():
    ids = {time_ordered_uuid(1_796_000_000_000_000_000) for _ in range(10_000)}
    assert len(ids) == 10_000
