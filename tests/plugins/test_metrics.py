"""/metrics in Prometheus text and the per-request log line, through the real gateway."""

from __future__ import annotations

import logging
import re
import threading
import time

import httpx
import pytest

from proxy.context import RequestContext, Upstream
from proxy.hookspecs import hookimpl
from tests.fake_ollama import FakeOllama, Reply
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}


def scrape(gateway: GatewayServer, **headers: str) -> dict[str, float]:
    """Sample lines as {'name{labels}': value}; comments checked for shape."""
    response = httpx.get(gateway.url + "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) llmgate_\w+ .+", line), line
            continue
        name, _, value = line.rpartition(" ")
        samples[name] = float(value)
    return samples


def post(gateway: GatewayServer, key: str | None, body: dict, **kwargs) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=10, **kwargs)


def test_requests_latency_and_auth_cache_are_counted(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway)
    assert post(gateway, key, CHAT).status_code == 200
    assert post(gateway, key, {**CHAT, "stream": True}).status_code == 200
    assert post(gateway, "sk-nobody", CHAT).status_code == 401
    assert post(gateway, key, {"model": "llama3.2"}).status_code == 400

    samples = scrape(gateway)
    assert samples['llmgate_requests_total{mode="bypass",status="200",upstream="shared"}'] == 2
    assert samples['llmgate_requests_total{mode="bypass",status="400",upstream="none"}'] == 1
    assert samples['llmgate_requests_total{mode="none",status="401",upstream="none"}'] == 1
    assert samples['llmgate_request_duration_seconds_count{mode="bypass"}'] == 3
    assert samples['llmgate_request_duration_seconds_bucket{mode="bypass",le="+Inf"}'] == 3
    assert samples['llmgate_request_duration_seconds_sum{mode="bypass"}'] > 0
    buckets = [v for k, v in samples.items() if k.startswith('llmgate_request_duration_seconds_bucket{mode="bypass"')]
    assert buckets == sorted(buckets)  # cumulative
    assert samples['llmgate_upstream_attempts_total{upstream="shared",outcome="ok"}'] == 2
    assert samples["llmgate_open_streams"] == 0
    # The first lookup of each key misses; the bypass key is then served from the cache.
    assert samples['llmgate_auth_cache_lookups_total{result="miss"}'] == 2
    assert samples['llmgate_auth_cache_lookups_total{result="hit"}'] == 2


def test_open_streams_gauge_follows_a_live_stream(gateway: GatewayServer, fake: FakeOllama) -> None:
    key = make_key(gateway)
    fake.queue(Reply(content="one two three four five six", chunk_delay=0.15))
    done = threading.Event()

    def stream() -> None:
        with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                          headers={"authorization": f"Bearer {key}"}, timeout=10) as response:
            for _ in response.iter_bytes():
                pass
        done.set()

    thread = threading.Thread(target=stream)
    thread.start()
    deadline = time.monotonic() + 5
    while scrape(gateway)["llmgate_open_streams"] != 1:
        assert time.monotonic() < deadline, "the stream never showed as open"
        time.sleep(0.02)
    assert done.wait(10)
    thread.join()
    deadline = time.monotonic() + 2
    while scrape(gateway)["llmgate_open_streams"] != 0:
        assert time.monotonic() < deadline, "the stream still shows as open after it ended"
        time.sleep(0.02)


class TwoCandidates:
    """The shared upstream twice, so a 503 from the first moves on to the second."""

    def __init__(self, url: str) -> None:
        self.url = url

    @hookimpl(tryfirst=True)
    def select_upstream(self, ctx: RequestContext) -> list[Upstream]:
        return [Upstream(label="first", base_url=self.url), Upstream(label="second", base_url=self.url)]


def test_failover_counts_attempts_per_upstream(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(extra_plugins={"two_candidates": TwoCandidates(fake.url)})
    fake.queue(Reply(status=503), Reply(content="from the second"))
    response = post(gateway, make_key(gateway), CHAT)
    assert response.status_code == 200, response.text
    samples = scrape(gateway)
    assert samples['llmgate_upstream_attempts_total{upstream="first",outcome="failed"}'] == 1
    assert samples['llmgate_upstream_attempts_total{upstream="second",outcome="ok"}'] == 1
    assert samples['llmgate_upstream_failovers_total{mode="bypass"}'] == 1
    assert samples['llmgate_requests_total{mode="bypass",status="200",upstream="second"}'] == 1


def test_one_log_line_per_request_with_the_request_id(gateway: GatewayServer, fake: FakeOllama,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    key = make_key(gateway)
    with caplog.at_level(logging.INFO, logger="llmgate.requests"):
        response = post(gateway, key, CHAT)
        refused = post(gateway, "sk-nobody", CHAT)
        deadline = time.monotonic() + 2
        while len([r for r in caplog.records if r.name == "llmgate.requests"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name == "llmgate.requests"]
    assert len(lines) == 2
    first = dict(part.split("=", 1) for part in lines[0].split())
    assert first["request_id"] == response.headers["x-request-id"]
    assert first["mode"] == "bypass" and first["status"] == "200" and first["upstream"] == "shared"
    assert first["user"] == "alice" and first["key"].startswith("sk-") and float(first["duration_ms"]) > 0
    second = dict(part.split("=", 1) for part in lines[1].split())
    assert second["request_id"] == refused.headers["x-request-id"] and second["status"] == "401"
    assert key not in "\n".join(lines)  # the prefix only, never the secret


def test_metrics_token_guards_the_endpoint(start_gateway) -> None:
    gateway = start_gateway(overrides={"plugins": {"metrics": {"token": "scrape-secret"}}})
    assert httpx.get(gateway.url + "/metrics").status_code == 401
    assert httpx.get(gateway.url + "/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert "llmgate_open_streams 0" in httpx.get(
        gateway.url + "/metrics", headers={"authorization": "Bearer scrape-secret"}
    ).text


def test_metrics_token_from_the_environment_also_binds_loopback(start_gateway) -> None:
    """LLMGATE_METRICS_TOKEN: with a token even a loopback client must send it."""
    gateway = start_gateway(env={"LLMGATE_METRICS_TOKEN": "from-the-env"})
    refused = httpx.get(gateway.url + "/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "llmgate_" not in refused.text
    assert httpx.get(gateway.url + "/metrics", headers={"authorization": "Bearer from-the-env"}).status_code == 200


def test_without_a_token_only_loopback_clients_may_scrape(start_gateway) -> None:
    """The address is the real client's (forwarding settings honoured): behind a proxy that forwards
    it, a remote client is refused; a forged header is ignored when no proxy is configured."""
    proxied = start_gateway(env={"LLMGATE_PROXIES_COUNT": "1"})
    remote = httpx.get(proxied.url + "/metrics", headers={"x-forwarded-for": "203.0.113.7"})
    assert remote.status_code == 403 and "loopback" in remote.text and "llmgate_" not in remote.text
    assert httpx.get(proxied.url + "/metrics", headers={"x-forwarded-for": "::1"}).status_code == 200
    assert httpx.get(proxied.url + "/metrics", headers={"x-forwarded-for": "127.0.0.1"}).status_code == 200
    direct = start_gateway()
    assert httpx.get(direct.url + "/metrics", headers={"x-forwarded-for": "203.0.113.7"}).status_code == 200


class UsersOwnKey:
    """An Ollama key whose owner chose a label that is also an attempt to break the exposition."""

    LABEL = 'bob\'s "work" key\nllmgate_open_streams 999'

    def __init__(self, url: str) -> None:
        self.url = url

    @hookimpl(tryfirst=True)
    def select_upstream(self, ctx: RequestContext) -> list[Upstream]:
        return [Upstream(label=self.LABEL, base_url=self.url, owner="ollama_keys")]


@pytest.mark.parametrize("user_labels", [False, True])
def test_ollama_key_labels_appear_only_when_the_operator_turns_them_on(start_gateway, fake: FakeOllama,
                                                                       user_labels: bool) -> None:
    gateway = start_gateway(extra_plugins={"own_key": UsersOwnKey(fake.url)},
                            overrides={"plugins": {"metrics": {"user_labels": user_labels}}})
    assert post(gateway, make_key(gateway), CHAT).status_code == 200
    text = httpx.get(gateway.url + "/metrics").text
    samples = scrape(gateway)  # every line still parses: the label cannot start a sample of its own
    assert samples["llmgate_open_streams"] == 0
    if user_labels:
        escaped = 'bob\'s \\"work\\" key\\nllmgate_open_streams 999'
        assert samples[f'llmgate_requests_total{{mode="bypass",status="200",upstream="{escaped}"}}'] == 1
    else:
        assert "bob" not in text
        assert samples['llmgate_requests_total{mode="bypass",status="200",upstream="ollama_keys"}'] == 1
        assert samples['llmgate_upstream_attempts_total{upstream="ollama_keys",outcome="ok"}'] == 1


def test_a_model_name_with_a_newline_cannot_forge_a_log_line(gateway: GatewayServer, fake: FakeOllama,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    forged = "llama3.2\nrequest_id=0000000000000000 method=POST status=200 user=admin"
    with caplog.at_level(logging.INFO, logger="llmgate.requests"):
        response = post(gateway, make_key(gateway), {**CHAT, "model": forged})
        deadline = time.monotonic() + 2
        while not [r for r in caplog.records if r.name == "llmgate.requests"] and time.monotonic() < deadline:
            time.sleep(0.01)
    assert fake.chat_requests()[-1].json["model"] == forged  # the model got what the client sent
    [line] = [r.getMessage() for r in caplog.records if r.name == "llmgate.requests"]
    assert line.splitlines() == [line]
    assert f"request_id={response.headers['x-request-id']}" in line
    assert 'model="llama3.2\\nrequest_id=0000000000000000 method=POST status=200 user=admin"' in line
