"""Concurrent writers on PostgreSQL: uniqueness and versions hold without serialising everything."""

import threading

import pytest

from tests.helpers import FHIR_JSON, operator_client, organization, search


def _race(app, requests):
    """Run the request callables at once, each on its own client; return their responses."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(index, send):
        client = operator_client(app)
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


@pytest.mark.usefixtures("postgresql_only")
def test_two_assigners_at_once_exactly_one_wins(app, client, sandbox):
    from adapter.identifiers import BASE
    from tests.integration.messaging_helpers import ALFA, ANNA, CECILIA, KOMMUN_A, MARIA, Sandbox, items, message

    inbox = Sandbox(client)
    resource = message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))
    client.post("/fhir/Communication", json=resource, headers=FHIR_JSON)
    [task] = items(client, inbox.shared(ALFA))

    def assign(member):
        operations = [{"op": "add", "path": "/extension", "value": [
            {"url": f"{BASE}/StructureDefinition/assignee", "valueReference": {"reference": member}}]}]

        def send(c):
            return c.patch(f"/fhir/Task/{task['id']}", json=operations,
                           headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'})
        return send

    responses = _race(app, [assign(inbox.personal(ANNA)), assign(inbox.personal(CECILIA))])
    assert sorted(r.status_code for r in responses) == [200, 412]
    winner = next(r for r in responses if r.status_code == 200).get_json()
    stored = client.get(f"/fhir/Task/{task['id']}").get_json()
    assert stored["meta"]["versionId"] == "2" and stored["extension"] == winner["extension"]


@pytest.mark.usefixtures("postgresql_only")
def test_a_poller_beside_writers_with_transactions_held_open_misses_and_repeats_nothing(app, client, sandbox):
    """Writers take feed positions in one order and commit in another; the poller sees each item once."""
    import random
    import time

    from adapter.directory.loader import adapter_context
    from adapter.inbox.feed import parse_feed, run_feed
    from adapter.inbox.items import NewItem, create_items
    from tests.integration.messaging_helpers import ALFA, Sandbox

    owner = Sandbox(client).shared(ALFA)
    state = app.extensions["mc"]
    created: list[str] = []
    rng = random.Random(7)
    holds = [rng.choice([0, 0, 0.05, 0.2, 0.4]) for _ in range(30)]
    writers_done = threading.Event()

    def writer(index: int, hold: float) -> None:
        ctx = adapter_context(state)
        try:
            [stored] = create_items(ctx, items=[NewItem(owner=owner, kind="message", focus=f"Communication/w{index}")])
            time.sleep(hold)  # the transaction stays open with its position taken
            ctx.session.commit()
            created.append(stored.id)
        finally:
            ctx.session.close()

    seen: list[str] = []
    cursors = state.cursors()

    def poll_once(after: tuple[int, int]) -> tuple[int, int]:
        ctx = adapter_context(state)
        try:
            query = parse_feed([("owner", owner), ("_count", "7")], strict=True, now=state.clock(), default_count=7,
                               max_count=7, cursors=cursors)
            query.after = after
            page = run_feed(ctx, query)
            seen.extend(s.id for s in page.items)
            return page.last
        finally:
            ctx.session.close()

    def poller() -> None:
        position = (0, 0)
        while not writers_done.is_set():
            position = poll_once(position)
            time.sleep(0.01)
        for _ in range(5):  # drain what committed last
            position = poll_once(position)

    poll_thread = threading.Thread(target=poller)
    poll_thread.start()
    threads = [threading.Thread(target=writer, args=(i, hold)) for i, hold in enumerate(holds)]
    for t in threads:
        t.start()
        time.sleep(0.005)
    for t in threads:
        t.join(30)
    writers_done.set()
    poll_thread.join(30)
    assert len(created) == 30
    assert len(seen) == len(set(seen)), "an item was shown twice"
    assert set(seen) == set(created), f"missed: {set(created) - set(seen)}"
