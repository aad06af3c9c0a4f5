"""The peer phase's message: what both servers are sent."""

from __future__ import annotations

import json

from adapter.bench.peer import one_kilobyte_message, sekmet_command
from adapter.bench.run import Setup


def test_the_peer_message_is_one_kilobyte_and_a_routable_samverkan_message():
    setup = Setup([("HealthcareService/r", "Practitioner/m")], [("HealthcareService/k", "Practitioner/n")], [], [])
    message = one_kilobyte_message(setup, 0)
    assert len(json.dumps(message)) == 1024
    assert message["sender"]["reference"] == "HealthcareService/k"
    assert message["recipient"] == [{"reference": "HealthcareService/r"}]


def test_a_missing_sekmet_command_means_no_peer_phase(tmp_path):
    assert sekmet_command(str(tmp_path / "no-such-sekmet")) is None
