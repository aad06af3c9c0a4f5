"""A message's reads are one statement (adapter/messaging/read_ahead.py, issue #17), and they decide as before."""

import json
from contextlib import contextmanager

from sqlalchemy import event

from adapter.messaging import read_ahead
from tests.helpers import rule_of
from tests.integration.messaging_helpers import ALFA, ANNA, KOMMUN_A, MARIA, message, send


@contextmanager
def statements_of(app):
    seen: list[str] = []
    engine = app.extensions["mc"].engine
    listener = lambda _conn, _cursor, statement, *_: seen.append(statement.lstrip().split(None, 1)[0].upper())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_on_postgresql_a_message_is_one_read_and_one_write(client, inbox, app, postgresql_only):
    sender, recipient, maria = inbox.shared(KOMMUN_A), inbox.shared(ALFA), inbox.personal(MARIA)
    with statements_of(app) as seen:
        assert send(client, message(sender, [recipient], sent_by=maria)).status_code == 201
    assert seen == ["SELECT", "WITH"]


def test_a_retry_read_ahead_returns_the_original(client, inbox, app):
    sender, recipient, maria = inbox.shared(KOMMUN_A), inbox.shared(ALFA), inbox.personal(MARIA)
    sent = message(sender, [recipient], sent_by=maria, identifier="read-ahead-1")
    first = send(client, sent)
    again = send(client, sent)
    assert (first.status_code, again.status_code) == (201, 200) and again.get_json()["id"] == first.get_json()["id"]
    changed = message(sender, [recipient], sent_by=maria, identifier="read-ahead-1",
                      payload=[{"contentString": "Other content"}])
    assert send(client, changed).status_code == 409


def test_a_sent_by_who_is_no_member_is_refused_after_a_read_ahead_mc_r38(client, inbox):
    refused = send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(ANNA)))
    assert refused.status_code == 422 and rule_of(refused) == "MC-R38"


def test_on_postgresql_the_read_ahead_is_planned_once_for_any_number_of_inboxes(app, postgresql_only):
    """Its cached plan serves every message: re-planning it per message cost PostgreSQL more than running it (#17)."""
    engine = app.extensions["mc"].engine
    sql, _positions, _fixed = read_ahead._driver_sql(engine.dialect)
    with engine.connect() as connection:
        for count in [1, 2, 3, 5, 8, 13] * 3:
            names = [f"HealthcareService/ra-{count}-{i}" for i in range(count)]
            connection.exec_driver_sql(sql, {"references": json.dumps(names), "inbox": names[0], "practitioner_id": "p",
                                             "sender": names[0], "system": "urn:s", "value": str(count)}).one()
        generic, custom = connection.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %(like)s",
            {"like": "%json_array_elements_text%"}).one()
    # psycopg prepares a statement on its fifth run; PostgreSQL tries five custom plans, then keeps the generic one
    assert custom <= 5 and generic >= 5
