"""The pages in a real browser: Debian's chromium, headless, driven by Playwright (never a downloaded browser).

Sign in as a synthetic user, open the follow-up page, see the compliance table and the plots,
switch to English; a screenshot of each page is saved under `MC_TEST_ARTIFACTS` (default
`.artifacts/`). In CI the browser is required (`.ci/run` installs it); elsewhere a machine
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


def test_a_chef_signs_in_and_sees_the_units_follow_up_with_its_plots(adapter, browser):
    base = adapter["base"]
    member = cli("token", "--as", CECILIA, env=adapter["env"], cwd=adapter["cwd"])
    inbox_search = requests.get(f"{base}/fhir/HealthcareService", params={
        "identifier": "https://meddelandecenter-adapter.github.io/fhir/NamingSystem/inbox|SE2321000131-E000000000101#samverkan"},
        headers={"Authorization": f"Bearer {member}"}, timeout=10).json()
    samverkan = next(e["resource"]["id"] for e in inbox_search["entry"] if e["search"]["mode"] == "match")
    assert requests.get(f"{base}/fhir/Task", params={"owner": f"HealthcareService/{samverkan}"},
                        headers={"Authorization": f"Bearer {member}"}, timeout=10).status_code == 200  # a watch
    page = browser.new_page(viewport={"width": 1366, "height": 768})  # a laptop screen
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(f"{base}/ui/")
    assert page.locator("h1").inner_text() == "Logga in"
    _shot(page, "signin")
    page.select_option("#hsa_id", HANS)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/followup")
    assert page.locator("h1").inner_text() == "Uppföljning"
    assert page.locator("svg.chart").count() == 3
    assert page.locator("table.compliance tbody tr").count() >= 2
    assert page.locator("th[scope=row]", has_text="Samverkan").count() >= 1
    _shot(page, "followup-sv")
    page.click("a[lang=en]")
    assert page.locator("h1").inner_text() == "Follow-up"
    assert page.locator("figcaption", has_text="Open items by age").count() == 1
    _shot(page, "followup-en")
    page.keyboard.press("Tab")  # the first focusable element is the language link: keyboard reachable
    assert page.evaluate("document.activeElement.tagName") == "A"
    assert violations == []
