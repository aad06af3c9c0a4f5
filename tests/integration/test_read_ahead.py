"""A message's reads are one statement (adapter/messaging/read_ahead.py, issue #17), and they decide as before."""

from contextlib import contextmanager

from sqlalchemy import event

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
