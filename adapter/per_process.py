"""State of one process: a forked child makes its own instead of sharing its parent's.

After a fork the child holds a copy of its parent's objects but none of its threads: a lock a
parent's thread held stays held, a thread the state counts on is gone, and a file descriptor is
shared (a `flock` through it would exclude nobody). State keyed by the process id is made
again in each process that uses it.
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

T = TypeVar("T")


def this_process(states: dict[int, T], make: Callable[[], T], discard: Callable[[T], None] | None = None) -> T:
    """`states`' entry for this process, made on first use.

    The first threads to use it may race to make it; `setdefault` lets one of them win, so
    that every thread of the process shares one entry, and the others' are discarded.
    """
    pid = os.getpid()
    here = states.get(pid)
    if here is None:
        candidate = make()
        here = states.setdefault(pid, candidate)
        if here is not candidate and discard is not None:
            discard(candidate)
    return here
