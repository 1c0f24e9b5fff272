"""The dashboard in a real browser (Debian's Chromium through Playwright), end to end.

register → sign in → create an emulator and a bypass key → use each with the openai SDK against
the fake Ollama → add an Ollama key → see its plan and usage bars → revoke a key and see it
refused. Every page is saved under test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from proxy.storage.models import User
from tests.fake_ollama import FakeOllama, KeyBehaviour, Reply
from tests.support.browser import LAUNCH_ARGS, chromium_path
from tests.support.gateway import GatewayServer

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
EMULATOR_READY = (ROOT / "plugins" / "emulator" / "plugin.py").exists()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shot(page, name: str, *, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def sdk(gateway: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def create_key(page, name: str, mode: str) -> str:  # type: ignore[no-untyped-def]
    page.get_by_label("Name").fill(name)
    page.get_by_label("Mode").select_option(mode)
    page.get_by_role("button", name="Create API key").click()
    secret = page.locator("#new-api-key").inner_text().strip()
    assert secret.startswith("sk-")
    return secret


def test_a_person_uses_the_dashboard_end_to_end(start_gateway, fake: FakeOllama, page) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway(env={"LLMGATE_OLLAMA_CLOUD_URL": fake.url})
    base = gateway.url + "/dashboard"
    expect = playwright_api.expect

    # Register, then sign in.
    page.goto(base + "/signin")
    shot(page, "01-signin")
    page.get_by_role("link", name="Register").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse battery")
    shot(page, "02-register")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Sign in to continue")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, ada")
    expect(page.locator("main")).to_contain_text("the shared upstream of this server is used")
    shot(page, "03-overview")

    # Two API keys, one per mode; each secret is shown once with a copy button.
    page.get_by_role("link", name="API keys").click()
    modes = page.get_by_label("Mode").locator("option").all_inner_texts()
    emulator_key = create_key(page, "codex laptop", "emulator") if "emulator" in modes else None
    bypass_key = create_key(page, "scripts", "bypass")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    shot(page, "04-keys-new-secret")

    fake.queue(Reply(content="Bypass says hi."))
    chat = sdk(gateway, bypass_key).chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content == "Bypass says hi."
    if emulator_key is not None:
        fake.queue(Reply(content="Emulator says hi."))
        response = sdk(gateway, emulator_key).responses.create(model="gpt-5.4", input="hi")
        assert response.output_text == "Emulator says hi."

    page.reload()  # the form answered with a redirect: reloading creates nothing and hides the secret
    assert bypass_key not in page.content()
    expect(page.get_by_role("link", name="scripts")).to_have_count(1)
    assert emulator_key is None or emulator_key not in page.content()
    shot(page, "05-keys-list")

    # An Ollama Cloud key: checked with /api/me, plan and usage bars shown.
    page.get_by_role("link", name="Ollama keys").click()
    page.get_by_label("Name").fill("personal")
    page.get_by_label("Ollama API key").fill("ollama-secret-0123456789")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("status")).to_contain_text("added")
    card = page.locator("article.key-card").first
    expect(card).to_contain_text("Plan: pro")
    expect(card.locator("svg.meter")).to_have_count(2)
    expect(card).to_contain_text("Session usage")
    expect(card).to_contain_text("10%")
    expect(card).to_contain_text("Weekly usage")
    expect(card).to_contain_text("20%")
    assert "ollama-secret-0123456789" not in page.content()
    shot(page, "06-ollama-keys")
    page.get_by_label("Name").fill("broken")
    fake.keys["bad-key-0123456789"] = KeyBehaviour(status=401)
    page.get_by_label("Ollama API key").fill("bad-key-0123456789")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("alert")).to_contain_text("unauthorized")
    shot(page, "07-ollama-key-refused")

    page.get_by_role("link", name="Overview").click()
    shot(page, "08-overview-with-key")
    page.get_by_role("link", name="Usage").click()
    expect(page.locator("svg.chart").first).to_be_visible()
    shot(page, "09-usage")
    page.get_by_role("link", name="Guide").click()
    expect(page.locator("#curl-bypass")).to_contain_text(gateway.url + "/v1/chat/completions")
    shot(page, "10-guide")
    page.get_by_role("link", name="ada").click()
    expect(page.get_by_role("heading", name="Recent sign-ins")).to_be_visible()
    expect(page.locator("tbody")).to_contain_text("Signed in")
    shot(page, "11-account")

    # Revoke the bypass key after confirming; the SDK is refused from then on.
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("button", name="Revoke scripts").click()
    shot(page, "12-revoke-confirm")
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway, bypass_key).chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}])

    # An admin sees everyone; dark mode and a phone-sized screen look right too.
    gateway.run(User.filter(username="ada").update(is_admin=True))
    page.goto(base + "/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
    shot(page, "13-admin")
    # The audit log: the revocation just made, found through the filter form.
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("api_key.revoked")
    page.get_by_role("button", name="Filter").click()
    entries = page.locator("tbody tr")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("scripts")
    expect(entries.first).not_to_contain_text(bypass_key)
    shot(page, "13b-audit-log")
    page.emulate_media(color_scheme="dark")
    page.goto(base + "/ollama-keys")
    shot(page, "14-ollama-keys-dark")
    page.goto(base + "/usage")
    shot(page, "15-usage-dark")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/keys")
    shot(page, "16-keys-phone-dark")
    page.emulate_media(color_scheme="light")
    page.goto(base + "/")
    shot(page, "17-overview-phone")

    if emulator_key is None:
        pytest.xfail("the emulator mode is not wired in yet (plugins/emulator/plugin.py); its key step was skipped")


def test_keyboard_alone_signs_in(start_gateway, page) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway()
    from tests.support.accounts import make_key

    make_key(gateway, username="kim")  # creates kim with the helper's password
    page.goto(gateway.url + "/dashboard/signin")
    page.keyboard.type("kim")  # the username field has focus on load
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    playwright_api.expect(page.get_by_role("heading", level=1)).to_have_text("Hello, kim")
