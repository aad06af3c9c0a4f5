"""The pages in a real browser: Debian's chromium, headless, driven by Playwright (never a downloaded browser).

Sign in as a synthetic user, open an inbox and an item, see the flow policy's refusal of a
message, then as a chef see the follow-up page's compliance table and plots, in Swedish and in
English; a screenshot of each page is saved under `MC_TEST_ARTIFACTS` (default `.artifacts/`). In CI the browser is required (`.ci/run` installs it); elsewhere a machine
without chromium skips these tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests

from tests.e2e.processes import cli, free_port, spawn, wait_until_serving

HANS = "SE2321000131-P000000001008"  # enhetschef at Medicinmottagning Alfa
CECILIA = "SE2321000131-P000000001003"  # a member of Alfa samverkan
ARTIFACTS = Path(os.environ.get("MC_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts")) / "screenshots"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
    pytest.skip("Debian's chromium is not installed (apt install chromium)")


@pytest.fixture
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Playwright's Python package is not installed (pip install -e '.[test]')")
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def adapter(tmp_path, database_url):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env["MC_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    if database_url.startswith("postgresql"):
        env["MC_DATABASE_URL"] = database_url
    server = spawn(["serve", "--sandbox", "--port", str(port), "--workers", "1", "--no-worker"], env=env, cwd=tmp_path, name="serve")
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(server, base)
    yield {"base": base, "env": env, "cwd": tmp_path}
    server.terminate()
    server.wait(30)


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _api(base, token, method, path, **options):
    return requests.request(method, f"{base}/fhir/{path}", headers={"Authorization": f"Bearer {token}",
                                                                      "Content-Type": "application/fhir+json"},
                            timeout=10, **options)


def _first(base, token, query) -> str:
    bundle = _api(base, token, "GET", query).json()
    return next(e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match")


def _sign_in(page, base, hsa_id):
    page.goto(f"{base}/ui/signin")
    page.select_option("#hsa_id", hsa_id)
    page.click("main button[type=submit]")


def test_a_user_opens_an_item_sees_a_refusal_and_a_chef_sees_the_plots(adapter, browser):
    base, env, cwd = adapter["base"], adapter["env"], adapter["cwd"]
    operator = cli("token", "--operator", env=env, cwd=cwd)
    inbox_system = "https://meddelandecenter-adapter.github.io/fhir/NamingSystem/inbox"
    samverkan = _first(base, operator, f"HealthcareService?identifier={inbox_system}|SE2321000131-E000000000101%23samverkan")
    kommun = _first(base, operator, f"HealthcareService?identifier={inbox_system}|SE2120000001-E000000000301%23samverkan")
    maria = _first(base, operator, "Practitioner?identifier=urn:oid:1.2.752.29.4.19|SE2120000001-P000000003002")
    sent = _api(base, operator, "POST", "Communication", json={
        "resourceType": "Communication", "status": "completed", "identifier": [{"system": "urn:e2e", "value": "ui-1"}],
        "category": [{"coding": [{"system": "https://meddelandecenter-adapter.github.io/fhir/CodeSystem/message-category",
                                  "code": "message"}]}],
        "sender": {"reference": f"HealthcareService/{kommun}"}, "recipient": [{"reference": f"HealthcareService/{samverkan}"}],
        "extension": [{"url": "https://meddelandecenter-adapter.github.io/fhir/StructureDefinition/sent-by",
                       "valueReference": {"reference": f"Practitioner/{maria}"}}],
        "payload": [{"contentString": "Hej från kommunen"}]})
    assert sent.status_code == 201, sent.text
    page = browser.new_page(viewport={"width": 1366, "height": 768})  # a laptop screen
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(f"{base}/ui/")
    assert page.locator("h1").inner_text() == "Logga in"
    _shot(page, "signin")
    _sign_in(page, base, CECILIA)  # a member of Alfa samverkan
    page.wait_for_url(f"{base}/ui/inbox")
    page.click(f"a[href*='{samverkan}']")
    assert page.locator("td", has_text="Hej från kommunen").count() == 1
    _shot(page, "inbox")
    page.click("table.items button[type=submit]")  # open the waiting item (MC-R26)
    assert page.locator("tr.in-progress td", has_text="Hej från kommunen").count() == 1
    page.click("a[href$='/ui/write']")
    page.select_option("#sender", f"Practitioner/{_first(base, operator, 'Practitioner?identifier=urn:oid:1.2.752.29.4.19|' + CECILIA)}")
    page.select_option("#recipient", f"HealthcareService/{samverkan}")
    page.check("#patient")  # about a patient, not saved to the record: MC-R8 stops it
    page.fill("#text", "Om patienten")
    page.click("form.write button[type=submit]")
    assert page.locator(".refusal .rule").first.inner_text().startswith("MC-R")
    assert page.locator(".refusal [lang=sv]").count() >= 1 and page.locator(".refusal [lang=en]").count() >= 1
    _shot(page, "write-refused")
    page.click("header button[type=submit]")  # sign out
    _sign_in(page, base, HANS)
    page.goto(f"{base}/ui/followup")
    assert page.locator("h1").inner_text() == "Uppföljning"
    assert page.locator("svg.chart").count() == 3
    assert page.locator("th[scope=row]", has_text="Samverkan").count() >= 1
    _shot(page, "followup-sv")
    page.click("a[lang=en]")
    assert page.locator("h1").inner_text() == "Follow-up"
    assert page.locator("figcaption", has_text="Open items by age").count() == 1
    _shot(page, "followup-en")
    page.keyboard.press("Tab")  # the first focusable element is the language link: keyboard reachable
    assert page.evaluate("document.activeElement.tagName") == "A"
    assert violations == []
