"""Concurrent writers on PostgreSQL: uniqueness and versions hold without serialising everything."""

import threading

import pytest

from tests.helpers import FHIR_JSON, organization, search


def _race(app, requests):
    """Run the request callables at once, each on its own client; return their responses."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(index, send):
        client = app.test_client()
        barrier.wait()
        results[index] = send(client)

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.usefixtures("postgresql_only")
def test_two_creations_of_the_same_unit_store_one_unit_and_one_pair_of_inboxes(app, client):
    unit = organization("SE2321000131-E000000000600")

    def send(c):
        return c.post("/fhir/Organization", json=unit, headers=FHIR_JSON)

    statuses = []
    for _ in range(5):
        statuses += [r.status_code for r in _race(app, [send, send])]
    assert statuses.count(201) == 1 and statuses.count(409) == 9, statuses
    assert len(search(client, "Organization?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-E000000000600")) == 1
    assert len(search(client, "HealthcareService")) == 2


@pytest.mark.usefixtures("postgresql_only")
def test_two_updates_from_the_same_version_let_exactly_one_win(app, client):
    created = client.post("/fhir/Organization", json=organization("SE2321000131-E000000000601"), headers=FHIR_JSON).get_json()

    def rename(name):
        def send(c):
            return c.put(f"/fhir/Organization/{created['id']}", json={**created, "name": name},
                         headers={**FHIR_JSON, "If-Match": 'W/"1"'})
        return send

    responses = _race(app, [rename("A"), rename("B")])
    assert sorted(r.status_code for r in responses) == [200, 412]
    assert client.get(f"/fhir/Organization/{created['id']}").get_json()["meta"]["versionId"] == "2"


@pytest.mark.usefixtures("postgresql_only")
def test_two_deliveries_of_the_same_message_at_once_store_one_message(app, client, sandbox):
    from tests.integration.messaging_helpers import ALFA, KOMMUN_A, MARIA, Sandbox, items, message

    inbox = Sandbox(client)
    resource = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA), identifier="race-1")

    def deliver(c):
        return c.post("/fhir/Communication", json=resource, headers=FHIR_JSON)

    statuses = sorted(r.status_code for r in _race(app, [deliver, deliver]))
    assert statuses in ([200, 201], [201, 409]), statuses  # 409 "retry": the retry then gets the original
    assert len(search(client, "Communication")) == 1
    assert len(items(client, inbox.shared(ALFA))) == 1
    assert deliver(client).status_code == 200
