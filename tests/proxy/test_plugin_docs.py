"""docs/plugins.md documents every hook, and every example there works.

Each hook's section holds a complete plugin module; these tests read it from the page, install it
in a gateway in front of the fake Ollama and check what a user would notice. A hook added to
``proxy/hookspecs.py`` without a section (and an example) fails the first test.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import re
import time
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

import proxy.hookspecs
from proxy.api import CLIError, PluginModels
from proxy.storage.models import User
from tests.fake_ollama import FakeOllama, Reply
from tests.proxy.test_core_failover import TwoUpstreams
from tests.reliability.helpers import assert_openai_error
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}


def hook_names() -> list[str]:
    return [name for name, spec in inspect.getmembers(proxy.hookspecs, inspect.isfunction)
            if hasattr(spec, "llmgate_spec")]  # fmt: skip


def sections() -> dict[str, str]:
    """Each ``### `hook``` section of the page, up to the next heading."""
    text = DOC.read_text()
    found = {}
    for match in re.finditer(r"^### `(\w+)`\n(.*?)(?=^#{2,3} |\Z)", text, re.MULTILINE | re.DOTALL):
        found[match.group(1)] = match.group(2)
    return found


def example(hook: str) -> str:
    block = re.search(r"```python\n(.*?)```", sections()[hook], re.DOTALL)
    assert block, f"the section on {hook} has no example"
    return block.group(1)


def load(hook: str) -> types.ModuleType:
    module = types.ModuleType(f"docs_example_{hook}")
    exec(compile(example(hook), f"docs/plugins.md ({hook})", "exec"), module.__dict__)  # noqa: S102
    return module


def start_with(start_gateway: Any, hook: str, **kwargs: Any) -> tuple[GatewayServer, types.ModuleType]:
    module = load(hook)
    plugins = {f"doc_{hook}": getattr(module, "plugin", module), **kwargs.pop("extra_plugins", {})}
    return start_gateway(extra_plugins=plugins, **kwargs), module


def post(gateway: GatewayServer, key: str, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", **headers}
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=15)


def wait_for(predicate: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_every_hook_has_a_section_with_an_example() -> None:
    hooks = hook_names()
    assert len(hooks) >= 20  # the spec module was read
    documented = sections()
    missing = [hook for hook in hooks if hook not in documented]
    assert not missing, f"hooks without a section in docs/plugins.md: {missing}"
    assert set(documented) <= set(hooks), "a section names a hook that does not exist"
    for hook in hooks:
        example(hook)
        text = " ".join(documented[hook].split())
        # Each says when it runs and how its results combine.
        assert re.search(r"First result|Collect|Observer|Chained|Around|Every implementation", text), hook


def test_register_modes(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "register_modes")
    key = make_key(gateway, mode="shout")
    fake.queue(Reply(content="quiet words"))
    answer = post(gateway, key, "/v1/shout", {"text": "whisper"})
    assert answer.status_code == 200 and answer.json() == {"text": "QUIET WORDS"}
    assert fake.chat_requests()[0].json["messages"] == [{"role": "user", "content": "whisper"}]
    level = httpx.get(gateway.url + "/v1/shout/level", headers={"authorization": f"Bearer {key}"})
    assert level.status_code == 200 and level.json() == {"level": "maximum"}
    # The route belongs to the mode: another mode's key is refused.
    other = httpx.get(
        gateway.url + "/v1/shout/level", headers={"authorization": f"Bearer {make_key(gateway)}"}
    )
    assert_openai_error(other, 403, "permission_error", "wrong_key_mode")


def test_register_routes(start_gateway: Any) -> None:
    gateway, _ = start_with(start_gateway, "register_routes")
    page = httpx.get(gateway.url + "/status")
    assert page.status_code == 200 and page.text == "up, 1 worker(s)"


def test_register_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "llmgate_doc_tables"
    package.mkdir()
    (package / "__init__.py").write_text(example("register_models"))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("llmgate_doc_tables")
    declared = module.register_models()
    assert declared == PluginModels(modules=("llmgate_doc_tables.models",), migrations=package / "migrations")
    # A real table with its migrations: tests/plugins/test_example_plugin.py and test_third_party_tables.py.


def test_register_commands(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("register_commands")
    parser = argparse.ArgumentParser(prog="llmgate")
    module.register_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["hello", "world"])
    args.func(args)
    assert capsys.readouterr().out == "hello world\n"
    bad = parser.parse_args(["hello", "bell\a"])
    with pytest.raises(CLIError, match="printable"):
        bad.func(bad)


def test_startup(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "startup")
    key = make_key(gateway)
    for _ in range(2):
        assert post(gateway, key, "/v1/chat/completions", CHAT).status_code == 200
    counter = gateway.state.services["request_counter"]
    assert wait_for(lambda: counter.requests == 2)


def test_shutdown(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, module = start_with(start_gateway, "shutdown")
    answer = post(gateway, make_key(gateway), "/v1/chat/completions", CHAT)
    assert wait_for(lambda: len(gateway.state.services.get("audit_buffer", [])) == 1)
    assert module.FLUSHED == []
    gateway.stop()
    assert module.FLUSHED == [answer.headers["x-request-id"]]


def test_wrap_request(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "wrap_request")
    key = make_key(gateway)
    complete = post(gateway, key, "/v1/chat/completions", CHAT)
    streamed = post(gateway, key, "/v1/chat/completions", {**CHAT, "stream": True})
    refused = post(gateway, "sk-nobody", "/v1/chat/completions", CHAT)
    assert complete.status_code == 200 and streamed.status_code == 200 and refused.status_code == 401
    assert {r.headers.get("x-served-by") for r in (complete, streamed, refused)} == {"gateway-7"}


def test_authenticate(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "authenticate")
    make_key(gateway)  # alice, user 1
    fake.queue(Reply(content="hello bot"))
    answer = post(gateway, "svc-build-bot-0001", "/v1/chat/completions", CHAT)
    assert answer.status_code == 200 and "hello bot" in answer.text
    assert_openai_error(
        post(gateway, "svc-unknown", "/v1/chat/completions", CHAT), 401, "authentication_error"
    )
    # The gateway's own keys still work: the example abstains for them.
    assert post(gateway, make_key(gateway), "/v1/chat/completions", CHAT).status_code == 200


def test_resolve_mode(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "resolve_mode")
    admin_key, user_key = make_key(gateway), make_key(gateway, username="bob")
    gateway.run(User.filter(username="alice").update(is_admin=True))
    responses = {"model": "gpt-5.4", "input": "hi", "store": False}
    fake.queue(Reply(content="via the responses API"))
    answer = post(gateway, admin_key, "/v1/responses", responses)
    assert answer.status_code == 200 and "via the responses API" in answer.text
    assert_openai_error(
        post(gateway, user_key, "/v1/responses", responses), 403, "permission_error", "wrong_key_mode"
    )


def test_admit_request(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "admit_request")
    key = make_key(gateway)
    refused = post(gateway, key, "/v1/chat/completions", {**CHAT, "model": "mistral"})
    error = assert_openai_error(refused, 403, "permission_error", "model_not_allowed")
    assert error["message"] == "The model 'mistral' is not offered here."
    assert fake.chat_requests() == []
    assert post(gateway, key, "/v1/chat/completions", CHAT).status_code == 200


def test_transform_request(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "transform_request")
    key = make_key(gateway, mode="haiku")
    error = assert_openai_error(post(gateway, key, "/v1/haiku", {"topic": " "}), 400, "invalid_request_error")
    assert error["param"] == "topic"
    fake.queue(Reply(content="leaves fall"))
    answer = post(gateway, key, "/v1/haiku", {"topic": "autumn"})
    assert answer.status_code == 200 and answer.json()["message"]["content"] == "leaves fall"
    assert fake.chat_requests()[0].json["messages"] == [
        {"role": "system", "content": "Answer with one haiku."},
        {"role": "user", "content": "autumn"},
    ]


@pytest.mark.parametrize("mode", ["bypass", "emulator"])
def test_prepare_upstream_request(start_gateway: Any, fake: FakeOllama, mode: str) -> None:
    gateway, _ = start_with(start_gateway, "prepare_upstream_request")
    key = make_key(gateway, mode=mode)
    path, body = (
        ("/v1/chat/completions", CHAT)
        if mode == "bypass"
        else ("/v1/responses", {"model": "gpt-5.4", "input": "hi", "store": False})
    )
    assert post(gateway, key, path, body).status_code == 200
    assert fake.chat_requests()[0].headers["x-tenant"] == "alice"


def test_select_upstream(start_gateway: Any, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_BOX_URL", fake.url)
    monkeypatch.setenv("GPU_BOX_KEY", "gpu-box-secret")
    gateway, _ = start_with(start_gateway, "select_upstream")
    key = make_key(gateway)
    assert post(gateway, key, "/v1/chat/completions", {**CHAT, "model": "big-llama"}).status_code == 200
    assert post(gateway, key, "/v1/chat/completions", CHAT).status_code == 200
    big, small = fake.chat_requests()
    assert big.json["model"] == "big-llama" and big.bearer == "gpu-box-secret"
    assert small.json["model"] == "llama3.2" and small.bearer is None  # the shared upstream has no key


def test_upstream_attempt(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "upstream_attempt")
    answer = post(gateway, make_key(gateway), "/v1/chat/completions", CHAT)
    assert answer.status_code >= 500 and "error" in answer.json()
    assert fake.chat_requests() == []  # the only candidate was skipped


def test_upstream_chosen(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "upstream_chosen")
    key = make_key(gateway)
    for stream in (False, True):
        answer = post(gateway, key, "/v1/chat/completions", {**CHAT, "stream": stream})
        assert answer.status_code == 200 and answer.headers["x-upstream"] == "shared"


def test_classify_upstream_failure(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "classify_upstream_failure",
                            extra_plugins={"two_upstreams": TwoUpstreams(fake.url)})  # fmt: skip
    fake.queue(Reply(status=404, error="model 'llama3.2' not found"), Reply(content="found it"))
    answer = post(gateway, make_key(gateway), "/v1/chat/completions", CHAT)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "found it"
    assert len(fake.chat_requests()) == 2


def test_no_upstream_left(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "no_upstream_left")
    fake.queue(Reply(status=503, error="overloaded"))
    answer = post(gateway, make_key(gateway), "/v1/chat/completions", CHAT)
    error = assert_openai_error(answer, 503, "server_error", "all_busy")
    assert error["message"] == "Every upstream is busy (tried: shared); try again in a minute."


def test_transform_response(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "transform_response")
    fake.queue(Reply(content="one two three"))
    answer = post(gateway, make_key(gateway, mode="wordcount"), "/v1/wordcount", {"text": "count"})
    assert answer.status_code == 200 and answer.json() == {"words": 3} and answer.headers["x-words"] == "3"


def test_stream_transform_response(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, module = start_with(start_gateway, "stream_transform_response")
    fake.queue(Reply(content="streamed through the counter"))
    answer = post(gateway, make_key(gateway), "/v1/chat/completions", {**CHAT, "stream": True})
    assert answer.status_code == 200 and answer.text.endswith("data: [DONE]\n\n")
    deltas = [line for line in answer.text.split("\n") if line.startswith("data: {")]
    assert "".join(re.findall(r'"content":"([^"]*)"', "".join(deltas))) == "streamed through the counter"
    assert wait_for(lambda: len(module.STREAMED) == 1) and module.STREAMED[0] > 0


def test_request_finished(start_gateway: Any, fake: FakeOllama, caplog: pytest.LogCaptureFixture) -> None:
    gateway, _ = start_with(start_gateway, "request_finished")
    with caplog.at_level(logging.INFO, logger="llmgate.audit"):
        assert post(gateway, make_key(gateway), "/v1/chat/completions", CHAT).status_code == 200
        assert wait_for(lambda: any(r.name == "llmgate.audit" for r in caplog.records))
    line = next(r.getMessage() for r in caplog.records if r.name == "llmgate.audit")
    assert line == 'audit user=alice endpoint="POST /v1/chat/completions" status=200'


def test_account_event(start_gateway: Any, fake: FakeOllama, caplog: pytest.LogCaptureFixture) -> None:
    from tests.dashboard.conftest import DashboardClient

    gateway, _ = start_with(start_gateway, "account_event")
    make_key(gateway)  # alice exists
    client = DashboardClient(gateway)
    with caplog.at_level(logging.WARNING, logger="llmgate.alerts"):
        assert client.signin("alice", password="not her password").status_code == 401
        assert wait_for(lambda: any(r.name == "llmgate.alerts" for r in caplog.records))
    client.http.close()
    line = next(r.getMessage() for r in caplog.records if r.name == "llmgate.alerts")
    assert line == "failed sign-in for alice from 127.0.0.1"


def test_list_models(start_gateway: Any, fake: FakeOllama) -> None:
    gateway, _ = start_with(start_gateway, "list_models")
    listed = httpx.get(gateway.url + "/v1/models", headers={"authorization": f"Bearer {make_key(gateway)}"})
    assert listed.status_code == 200
    assert [model["id"] for model in listed.json()["data"]] == ["house-special"]
