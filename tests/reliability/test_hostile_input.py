"""Hostile input on the /v1 API: fuzzed bodies, paths and headers, oversized and malformed requests,
slow clients. Never a 5xx, never HTML or a traceback, every rejection in the OpenAI error shape, and
the gateway still answers afterwards.

Limits proven here (see docs/reliability.md): body <= server.max_body_bytes (413), head <= Sanic's
REQUEST_MAX_HEADER_SIZE of 8 KiB (413), JSON nesting <= 128 levels (400 naming the field), integer
fields within their range (400 naming the field), a body must arrive whole within
server.request_timeout (408), a head may pause at most request_timeout between bytes.
"""

from __future__ import annotations

import socket
import string
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fake_ollama import FakeOllama, Reply
from tests.reliability.helpers import assert_error_shape, assert_openai_error
from tests.support.accounts import make_key
from tests.support.gateway import GatewayServer

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

def nested(depth: int, leaf: object = 1) -> object:
    """``depth`` levels of arrays and objects around ``leaf``."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# Huge and tiny numbers (beyond 64 bits orjson reads them as floats), every character hypothesis
# knows (controls, non-ASCII, line separators) in strings and keys, and nesting around the bound.
huge_numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([1e308, -1e308, 5e-324, 2**63, 2**64 - 1])
json_scalars = (
    st.none() | st.booleans() | st.integers() | huge_numbers
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
) | st.integers(min_value=100, max_value=400).map(nested)
# Objects that look like real requests, so the fuzzing gets past the first checks.
chat_like = st.fixed_dictionaries(
    {"messages": st.one_of(json_values, st.lists(st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls"]), json_values), max_size=3))},
    optional={
        "model": json_values, "stream": json_values, "tools": json_values, "temperature": json_values,
        "stream_options": json_values, "max_tokens": json_values, "max_completion_tokens": json_values,
        "n": json_values, "seed": json_values, "top_logprobs": json_values,
    },
)
responses_like = st.fixed_dictionaries(
    {"input": json_values},
    optional={"model": json_values, "stream": json_values, "tools": json_values, "instructions": json_values,
              "reasoning": json_values, "store": json_values, "previous_response_id": json_values,
              "max_output_tokens": json_values, "top_logprobs": json_values, "max_tool_calls": json_values,
              "temperature": json_values, "metadata": json_values},
)


def check_answer(response: httpx.Response) -> None:
    """The invariant every /v1 answer keeps."""
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        assert_openai_error(response)
        assert_error_shape(response.content)
    else:
        assert b"Traceback" not in response.content


def still_answers(gateway: GatewayServer, key: str) -> None:
    assert httpx.get(gateway.url + "/healthz").status_code == 200
    ok = httpx.post(gateway.url + CHAT, json={"messages": [{"role": "user", "content": "hi"}]},
                    headers={"authorization": f"Bearer {key}"}, timeout=10)
    assert ok.status_code == 200 and ok.json()["choices"]


@pytest.fixture
def keyed(gateway: GatewayServer, fake: FakeOllama) -> tuple[GatewayServer, str, httpx.Client]:
    key = make_key(gateway)
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        yield gateway, key, client


# --- fuzzing ------------------------------------------------------------------------------


@FUZZ
@given(body=json_values | chat_like)
def test_any_json_to_chat_completions(keyed, body) -> None:
    gateway, key, client = keyed
    check_answer(client.post(CHAT, json=body))


@FUZZ
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_bytes_to_chat_completions(keyed, body: bytes) -> None:
    gateway, key, client = keyed
    check_answer(client.post(CHAT, content=body, headers={"content-type": "application/json"}))


def test_responses_fuzz_when_the_emulator_is_enabled(gateway: GatewayServer, fake: FakeOllama) -> None:
    if "emulator" not in gateway.state.runner.modes:
        pytest.skip("the emulator mode is not enabled in this build")
    key = make_key(gateway, mode="emulator")
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=15) as client:

        @FUZZ
        @given(body=json_values | responses_like | st.binary(max_size=200))
        def fuzz(body) -> None:
            if isinstance(body, bytes):
                check_answer(client.post(RESPONSES, content=body))
            else:
                check_answer(client.post(RESPONSES, json=body))

        fuzz()
    still_answers(gateway, make_key(gateway))


path_segment = st.text(alphabet=string.ascii_letters + string.digits + "-._~%:@!$&'()*+,;=", min_size=0, max_size=20)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    path=st.lists(path_segment, min_size=1, max_size=4).map(lambda parts: "/v1/" + "/".join(parts)),
    query=st.dictionaries(path_segment, path_segment, max_size=3),
    authorization=st.none() | st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=60).map(str.strip),
)
def test_any_path_method_query_and_auth_header(keyed, method: str, path: str, query: dict, authorization) -> None:
    gateway, key, client = keyed
    client.headers.pop("authorization", None)
    headers = {"authorization": authorization} if authorization is not None else {}
    response = client.request(method, path, params=query, headers=headers)
    assert response.status_code < 500, response.text[:300]
    if method != "HEAD" and response.status_code >= 400:
        assert_openai_error(response)


@FUZZ
@given(query=st.dictionaries(path_segment, path_segment, max_size=4), body=st.binary(max_size=100))
def test_models_with_junk_query_and_body(keyed, query: dict, body: bytes) -> None:
    gateway, key, client = keyed
    response = client.request("GET", "/v1/models", params=query, content=body)
    check_answer(response)
    assert response.status_code == 200 and response.json()["object"] == "list"


def test_gateway_still_answers_after_fuzzing(keyed) -> None:
    gateway, key, client = keyed
    for body in (b"\x00" * 100, b"{" * 2000, b'{"messages": [' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"]}"):
        check_answer(client.post(CHAT, content=body))
    still_answers(gateway, key)


# --- malformed and oversized requests -----------------------------------------------------


def raw_exchange(gateway: GatewayServer, data: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    """Send raw bytes; return everything the gateway sent until it closed, and how long that took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(data)
        sock.settimeout(wait)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pytest.fail(f"the gateway kept the connection open for {wait} s: {answer[:200]!r}")
    return answer, time.monotonic() - started


def split_http(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 413),
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n", 413),
        (b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"NOT-HTTP\r\n\r\n", 400),
    ],
    ids=["header-20k", "2000-headers", "path-not-utf8", "bad-chunking", "negative-length", "not-http"],
)
def test_malformed_requests_get_an_openai_error_and_a_close(gateway: GatewayServer, request_bytes: bytes, status: int) -> None:
    answer, _ = raw_exchange(gateway, request_bytes)
    got, body = split_http(answer)
    assert got == status, answer[:300]
    assert_error_shape(body)
    assert httpx.get(gateway.url + "/healthz").status_code == 200


def test_header_value_not_utf8_is_no_crash(keyed) -> None:
    gateway, key, client = keyed
    answer, _ = raw_exchange(
        gateway, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \xff\xfe\xfd\r\n\r\n"
    )
    status, body = split_http(answer)
    assert status == 401
    assert_error_shape(body)


def test_oversized_body_is_413_declared_or_chunked(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_MAX_BODY_BYTES": "4096"})
    headers = {"authorization": f"Bearer {make_key(gateway)}"}
    declared = httpx.post(gateway.url + CHAT, content=b"x" * 10_000, headers=headers)
    assert_openai_error(declared, 413, "invalid_request_error", "payload_too_large")

    def chunks():
        for _ in range(10):
            yield b"y" * 1000

    chunked = httpx.post(gateway.url + CHAT, content=chunks(), headers=headers)
    assert_openai_error(chunked, 413, "invalid_request_error", "payload_too_large")
    still_answers(gateway, headers["authorization"][7:])


def test_valid_json_nested_past_the_bound_is_400_naming_the_field(keyed, fake: FakeOllama) -> None:
    """300 levels parse (orjson allows 1024) but cannot be sent on (orjson writes at most 254): was a
    500 with a traceback. Up to 128 levels is passed on as the client sent it."""
    _, _, client = keyed
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    for depth in (129, 300, 900):
        response = client.post(CHAT, json={**chat, "response_format": nested(depth)})
        error = assert_openai_error(response, 400, "invalid_request_error", "nesting_too_deep")
        assert error["param"] == "response_format" and "128 levels" in error["message"]
    assert not fake.chat_requests()
    deep = nested(126)  # the body and response_format take two more levels: 128 in all
    assert client.post(CHAT, json={**chat, "response_format": deep}).status_code == 200
    assert fake.chat_requests()[-1].json["response_format"] == deep


def test_emulator_refuses_deep_nesting_and_huge_integers_by_name(gateway: GatewayServer, fake: FakeOllama) -> None:
    if "emulator" not in gateway.state.runner.modes:
        pytest.skip("the emulator mode is not enabled in this build")
    key = make_key(gateway, mode="emulator")
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        deep = client.post(RESPONSES, json={"input": [{"role": "user", "content": nested(300)}]})
        assert assert_openai_error(deep, 400, "invalid_request_error", "nesting_too_deep")["param"] == "input"
        for field, value in (("max_output_tokens", 1e308), ("max_output_tokens", 2**63), ("max_output_tokens", 0),
                             ("top_logprobs", 10**6), ("max_tool_calls", -1)):  # fmt: skip
            response = client.post(RESPONSES, json={"input": "hi", field: value})
            error = assert_openai_error(response, 400, "invalid_request_error")
            assert error["param"] == field and "expected an integer from" in error["message"], error
        assert not fake.chat_requests()
        fake.queue(Reply(content="ok"))
        assert client.post(RESPONSES, json={"input": "hi", "max_output_tokens": 2**31 - 1}).status_code == 200
        assert fake.chat_requests()[-1].json["options"]["num_predict"] == 2**31 - 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_tokens", 1e308), ("max_tokens", 10**30), ("max_tokens", 0), ("max_tokens", "12"), ("max_completion_tokens", 2**40),
     ("n", 10**9), ("top_logprobs", -1), ("seed", 2**64 - 1), ("max_tokens", True)],
)  # fmt: skip
def test_bypass_refuses_integers_out_of_range_by_name(keyed, fake: FakeOllama, field: str, value: object) -> None:
    _, _, client = keyed
    response = client.post(CHAT, json={"messages": [{"role": "user", "content": "hi"}], field: value})
    error = assert_openai_error(response, 400, "invalid_request_error")
    assert error["param"] == field and "must be an integer from" in error["message"]
    assert not fake.chat_requests()


def test_nan_and_infinity_are_not_json(keyed) -> None:
    _, _, client = keyed
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + literal + b"}"
        assert_openai_error(client.post(CHAT, content=body), 400, "invalid_request_error")


def test_deep_nesting_and_invalid_utf8_bodies_are_400(keyed) -> None:
    _, _, client = keyed
    for body in (b"[" * 100_000, b'{"messages": "\xff\xfe"}', b'{"messages": [{"role": "user", "content": "\xc3\x28"}]}'):
        assert_openai_error(client.post(CHAT, content=body), 400, "invalid_request_error")


# --- slow clients -------------------------------------------------------------------------

SLOW = "0.5"  # seconds: server.request_timeout for these tests


def test_body_that_never_finishes_is_408_within_the_request_timeout(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_REQUEST_TIMEOUT": SLOW})
    key = make_key(gateway)
    answer, took = raw_exchange(
        gateway,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
        + b"\r\nContent-Length: 1000\r\n\r\n{\"messages\":",
    )
    status, body = split_http(answer)
    assert status == 408
    assert assert_error_shape(body)["code"] == "request_timeout"
    assert took < 2.0  # the deadline plus Sanic's timer granularity


def test_body_trickled_byte_by_byte_is_cut_off_at_the_deadline(start_gateway) -> None:
    """The body deadline is total: a client sending a byte every 50 ms still gets 408."""
    gateway = start_gateway(env={"LLMGATE_REQUEST_TIMEOUT": SLOW})
    key = make_key(gateway)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
                     + b"\r\nContent-Length: 10000\r\n\r\n")
        sock.settimeout(0.05)
        answer = b""
        while time.monotonic() - started < 5:
            try:
                sock.send(b" ")
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:  # closed while bytes were still coming: the 408 may be lost
                break
            if not chunk:
                break
            answer += chunk
    took = time.monotonic() - started
    assert took < 2.0  # the deadline plus Sanic's timer granularity, although bytes kept coming
    if answer:
        status, body = split_http(answer)
        assert status == 408
        assert_error_shape(body)


def test_silent_partial_head_is_closed_within_the_request_timeout(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_REQUEST_TIMEOUT": SLOW})
    answer, took = raw_exchange(gateway, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty")
    assert took < 2.0
    if answer:  # Sanic answers 408 when it can, else it just closes
        status, body = split_http(answer)
        assert status == 408
        assert_error_shape(body)


def test_many_idle_connections_do_not_block_others(start_gateway, fake: FakeOllama) -> None:
    gateway = start_gateway(env={"LLMGATE_REQUEST_TIMEOUT": SLOW})
    key = make_key(gateway)
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(200)]
    try:
        for sock in idle:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        still_answers(gateway, key)  # while they hang
        time.sleep(1.5)
        closed = 0
        for sock in idle:
            sock.settimeout(0.5)
            try:
                closed += sock.recv(65536) is not None
            except (TimeoutError, ConnectionResetError):
                pass
        assert closed == len(idle)  # every idle connection was cut off
    finally:
        for sock in idle:
            sock.close()
