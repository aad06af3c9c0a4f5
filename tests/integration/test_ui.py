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
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/ui/followup")
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
