"""The pages (adapter/ui): sign-in, CSRF, the session cookie, the CSP, who sees follow-up, the languages."""

import re

from adapter.app import create_app
from tests.integration.messaging_helpers import CECILIA
from tests.integration.test_proxies import HANS


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _signed_in(app, hsa_id):
    browser = app.test_client()
    token = _csrf(browser.get("/ui/signin"))
    answer = browser.post("/ui/signin", data={"hsa_id": hsa_id, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/ui/inbox")
    return browser, answer


def test_signing_in_needs_the_forms_csrf_token(app, inbox):
    browser = app.test_client()
    browser.get("/ui/signin")
    assert browser.post("/ui/signin", data={"hsa_id": HANS}).status_code == 400
    assert browser.post("/ui/signin", data={"hsa_id": HANS, "csrf_token": "forged"}).status_code == 400


def test_the_session_cookie_is_httponly_and_samesite_and_pages_allow_nothing_inline(app, inbox):
    browser, answer = _signed_in(app, HANS)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = browser.get("/ui/followup")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy and "script-src" not in policy
    html = page.get_data(as_text=True)
    assert "<script" not in html and "style=" not in html and "Uppföljning" in html and html.count("<svg") == 3


def test_an_unknown_user_cannot_sign_in(app, inbox):
    browser = app.test_client()
    token = _csrf(browser.get("/ui/signin"))
    assert browser.post("/ui/signin", data={"hsa_id": "SE0000000000-P999", "csrf_token": token}).status_code == 422


def test_follow_up_is_for_chefs_and_forvaltning_only_mc_r47(app, inbox):
    browser, _ = _signed_in(app, CECILIA)
    page = browser.get("/ui/followup")
    assert page.status_code == 403 and "MC-R47" in page.get_data(as_text=True)


def test_without_a_session_the_pages_send_the_browser_to_sign_in(app):
    assert app.test_client().get("/ui/followup").headers["Location"].endswith("/ui/signin")


def test_english_is_a_click_away(app, inbox):
    browser, _ = _signed_in(app, HANS)
    assert "Follow-up" in browser.get("/ui/followup?lang=en").get_data(as_text=True)
    assert "Follow-up" in browser.get("/ui/followup").get_data(as_text=True)  # kept in the session


def test_signing_out_needs_the_token_too(app, inbox):
    browser, _ = _signed_in(app, HANS)
    page = browser.get("/ui/followup")
    assert browser.post("/ui/signout").status_code == 400
    assert browser.post("/ui/signout", data={"csrf_token": _csrf(page)}).status_code == 302
    assert browser.get("/ui/followup").status_code == 302


def test_outside_the_sandbox_the_pages_are_not_served(config, clean_database):
    production = create_app(config.with_overrides(sandbox=False))
    assert production.test_client().get("/ui/signin").status_code == 404
    production.extensions["mc"].engine.dispose()


def test_a_user_sees_their_inboxes_and_opens_an_item_mc_r26(app, client, inbox):
    from tests.integration.messaging_helpers import ALFA, KOMMUN_A, MARIA, items, message, send

    assert send(client, message(inbox.shared(KOMMUN_A), [inbox.shared(ALFA)], sent_by=inbox.personal(MARIA))).status_code == 201
    browser, _ = _signed_in(app, CECILIA)
    page = browser.get("/ui/inbox", query_string={"inbox": inbox.shared(ALFA)})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Synthetic test message" in html and "Medicinmottagning Alfa" in html
    from sqlalchemy import func, select

    from adapter.followup.models import InboxWatch

    with app.extensions["mc"].sessions() as session:  # opening the inbox's list is a watch (MC-R35)
        assert session.execute(select(func.count()).select_from(InboxWatch)
                               .where(InboxWatch.inbox == inbox.shared(ALFA))).scalar() == 1
    [task] = items(client, inbox.shared(ALFA))
    opened = browser.post(f"/ui/items/{task['id']}/open", data={"csrf_token": _csrf(page), "inbox": inbox.shared(ALFA),
                                                                 "folder": "messages"})
    assert opened.status_code == 302
    assert items(client, inbox.shared(ALFA))[0]["status"] == "in-progress"


def test_an_inbox_the_user_does_not_see_is_404(app, inbox):
    from tests.integration.messaging_helpers import KOMMUN_A

    browser, _ = _signed_in(app, CECILIA)
    assert browser.get("/ui/inbox", query_string={"inbox": inbox.shared(KOMMUN_A)}).status_code == 404


def test_a_refused_message_shows_the_rule_in_english_and_swedish_and_stores_nothing_mc_r8(app, client, inbox):
    from sqlalchemy import func, select

    from adapter.messaging.models import Message
    from tests.integration.messaging_helpers import ALFA, ANNA

    browser, _ = _signed_in(app, ANNA)
    page = browser.get("/ui/write")
    with app.extensions["mc"].sessions() as session:
        before = session.execute(select(func.count()).select_from(Message)).scalar()
    refused = browser.post("/ui/write", data={"csrf_token": _csrf(page), "sender": inbox.personal(ANNA),
                                             "recipient": inbox.shared(ALFA, "meddelande"), "category": "message",
                                             "patient": "1", "text": "Om patienten"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "MC-R8" in html and 'lang="sv"' in html and 'lang="en"' in html
    with app.extensions["mc"].sessions() as session:
        assert session.execute(select(func.count()).select_from(Message)).scalar() == before


def test_an_allowed_message_is_sent_and_lands_in_the_recipients_inbox(app, client, inbox):
    from tests.integration.messaging_helpers import ALFA, ANNA, items

    browser, _ = _signed_in(app, ANNA)
    page = browser.get("/ui/write")
    sent = browser.post("/ui/write", data={"csrf_token": _csrf(page), "sender": inbox.personal(ANNA),
                                          "recipient": inbox.shared(ALFA, "meddelande"), "category": "message",
                                          "text": "Hej från sandlådan"})
    assert sent.status_code == 302, sent.get_data(as_text=True)
    assert any(t["status"] == "requested" for t in items(client, inbox.shared(ALFA, "meddelande")))
