"""Ollama keys and their labels as a hostile user types them: any text on the dashboard form, never
a 500; a secret that cannot travel in an HTTP header is refused with the reason (was a 500)."""

from __future__ import annotations

import html
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.ollama_keys.keys import OllamaKeyError, check_secret
from proxy.context import Upstream
from proxy.upstream import proxied_headers
from tests.fake_ollama import FakeOllama

FORM = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
serial = itertools.count()
added: list[str] = []


@pytest.fixture
def cloud_gateway(start_gateway, fake: FakeOllama):
    """A gateway whose Ollama Cloud is the fake, so keys are checked (and accepted) there."""
    gateway = start_gateway(env={"LLMGATE_OLLAMA_CLOUD_URL": fake.url})
    if "ollama_keys" not in gateway.state.services:
        pytest.skip("the ollama_keys plugin is not enabled in this build")
    return gateway


@pytest.fixture
def fuzzer(client_for, cloud_gateway):
    return client_for("fuzzer", gw=cloud_gateway)


@settings(max_examples=400, derandomize=True, database=None)
@given(secret=st.text(max_size=60))
def test_every_accepted_secret_fits_an_http_header(secret: str) -> None:
    try:
        accepted = check_secret(secret)
    except OllamaKeyError:
        return
    headers = proxied_headers(Upstream(label="k", base_url="http://127.0.0.1", api_key=accepted))
    # Printable ASCII only: what every HTTP client sends as a header value unchanged.
    assert all(value.isascii() and value.isprintable() for value in headers.values())


@pytest.mark.parametrize("secret", ["ключ-0123456789", "abc\u00e9def0123", "abc\x00def0123", "tab\tinside0123"])
def test_a_secret_that_cannot_be_a_header_is_refused_with_the_reason(
    client_for, cloud_gateway, fake: FakeOllama, secret: str
) -> None:
    client = client_for("alice", gw=cloud_gateway)
    assert client.post("/ollama-keys", {"name": "fine", "secret": "fine-key-0123456789"}).status_code == 302
    response = client.post("/ollama-keys", {"name": "mine", "secret": secret})
    assert response.status_code == 400
    assert "does not look like an Ollama key" in html.unescape(response.text)
    assert [r.bearer for r in fake.requests if r.path == "/api/me"] == ["fine-key-0123456789"]  # not sent


@FORM
@given(
    name=st.text(min_size=1, max_size=100)
    | st.text(st.characters(blacklist_categories=("C", "Z")) | st.just(" "), min_size=1, max_size=100),
    secret=st.text(max_size=40) | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40),
)
def test_any_label_and_secret_on_the_form_is_never_a_500(fuzzer, name: str, secret: str) -> None:
    client = fuzzer
    response = client.post("/ollama-keys", {"name": name, "secret": secret + str(next(serial))})
    assert response.status_code in (302, 400), response.text[:300]
    page = client.get("/ollama-keys")
    assert page.status_code == 200
    if response.status_code == 302:
        added.append(name)
    # Every key added so far is listed under its label, escaped.
    for label in added:
        assert html.escape(label.strip()) in page.text or html.escape(label.strip(), quote=False) in page.text


def test_the_form_fuzzing_added_keys() -> None:
    """Runs after the fuzzing above (file order): most printable secrets were accepted and listed."""
    if not added:
        pytest.skip("the form fuzzing did not run")
    assert len(added) >= 10
