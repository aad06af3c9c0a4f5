"""Identifiers the adapter assigns: UUIDs that sort in the order they were made (RFC 9562, version 7).

Every table keyed by an id the adapter assigns (resources, their search rows, items, messages,
audit events, the outbox) gets its new rows at the right edge of its B-trees: a message's
writes touch the pages the previous message touched, instead of a random leaf of each index.
On SQLite that halves the pages a checkpoint copies, and on PostgreSQL it spares the
full-page images of random leaves after each checkpoint (issue #17). The id reveals the
millisecond it was made, which a resource's first `meta.lastUpdated` shows anyway.
Python 3.11 has no `uuid.uuid7`; the layout is the RFC's: 48 bits of Unix milliseconds, the
version, 74 random bits around the variant.
"""

from __future__ import annotations

import os
import time
import uuid

_RANDOM_BITS = 74
_LOW_BITS = 62  # the random bits below the variant; the other 12 sit above the version


def time_ordered_uuid(now_ns: int | None = None) -> str:
    """A version 7 UUID, as its 36-character string: unique, and ordered by its millisecond."""
    milliseconds = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    random = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
    value = ((milliseconds & ((1 << 48) - 1)) << 80) | (0x7 << 76) | ((random >> _LOW_BITS) << 64) \
        | (0b10 << 62) | (random & ((1 << _LOW_BITS) - 1))
    return str(uuid.UUID(int=value))
