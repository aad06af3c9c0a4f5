"""Cost of one flow-policy decision: `python -m adapter.bench.policy` prints microseconds per decision."""

from __future__ import annotations

import itertools
import json
import time

from adapter.mappings import codes
from adapter.messaging.policy import CALLERS, INBOXES, PARTIES, Endpoint, Flow, FlowPolicy


def main() -> int:
    policy = FlowPolicy.from_table()
    ends = [Endpoint(i, p) for i in sorted(INBOXES) for p in sorted(PARTIES)]
    flows = [
        Flow(c, s, r, caller, patient, save)
        for c, s, r, caller, patient, save in itertools.product(
            sorted(codes("message-category")), ends, ends, sorted(CALLERS), (False, True), (False, True))
    ]
    start = time.perf_counter()
    for f in flows:
        policy.decide(f)
    elapsed = time.perf_counter() - start
    typical = Flow("message", Endpoint("unit-samverkan", "municipal"), Endpoint("unit-samverkan", "care"), "client", True, True)
    rounds = 100_000
    t0 = time.perf_counter()
    for _ in range(rounds):
        policy.decide(typical)
    typical_us = (time.perf_counter() - t0) / rounds * 1e6
    print(json.dumps({
        "decisions": len(flows),
        "mean_us_per_decision_all_combinations": round(elapsed / len(flows) * 1e6, 2),
        "us_per_decision_shared_to_shared_patient_message": round(typical_us, 2),
        "rows": policy.catch_all_row,
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
