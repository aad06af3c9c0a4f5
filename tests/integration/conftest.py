"""Fixtures for the integration tests that work on the sandbox directory."""

import pytest

from tests.integration.messaging_helpers import Sandbox


@pytest.fixture
def inbox(client, sandbox):
    """The sandbox's inboxes, found by HSA-id."""
    return Sandbox(client)


@pytest.fixture
def fixed_clock(app, clock):
    """The app's clock, moved by hand (no sleeping)."""
    app.extensions["mc"].clock = clock
    return clock
