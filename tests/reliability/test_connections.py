"""Connections nobody can hold open: a total deadline for the request head, a cap per address.

Raw sockets, because the point is what a misbehaving client does below HTTP libraries.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx

from tests.reliability.helpers import assert_error_shape
from tests.support.gateway import GatewayServer

HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"


def trickle(gateway: GatewayServer, interval: float, limit: float) -> tuple[bytes, float, int]:
    """Send HEAD one byte per ``interval``; return the answer, when the socket closed, bytes sent."""
    started = time.monotonic()
    answer = b""
    sent = 0
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.settimeout(interval)
        while time.monotonic() - started < limit:
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
                continue
            except TimeoutError:
                pass
            try:
                sock.sendall(HEAD[sent : sent + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
        return answer, time.monotonic() - started, sent


def test_a_trickled_head_is_cut_off_at_the_total_deadline(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_REQUEST_TIMEOUT": "2"})
    answer, took, sent = trickle(gateway, interval=0.5, limit=10.0)
    print(f"\ntrickled head (1 byte / 0.5 s, request_timeout 2 s): closed after {took:.2f} s, {sent} bytes sent")
    assert took < 4.0, f"the connection stayed open {took:.1f} s"  # 2 s deadline, generous margin
    assert sent < 10  # Sanic's own timer, reset per byte, would never have fired
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status == 408, answer[:200]
        assert_error_shape(answer.partition(b"\r\n\r\n")[2])
    assert httpx.get(gateway.url + "/healthz").status_code == 200


def test_a_head_that_arrives_in_pieces_within_the_deadline_is_served(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_REQUEST_TIMEOUT": "2"})
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.settimeout(5)
        for piece in (HEAD[:10], HEAD[10:100], HEAD[100:]):
            sock.sendall(piece)
            time.sleep(0.3)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(HEAD)  # and again on the same connection: the deadline is per request
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def answer_on(sock: socket.socket) -> bytes:
    sock.sendall(HEAD)
    sock.settimeout(5)
    return sock.recv(65536)


def test_connections_per_address_are_capped_and_the_others_keep_working(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_MAX_CONNECTIONS_PER_IP": "3"})
    held = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(3)]
    try:
        for sock in held:
            assert answer_on(sock).startswith(b"HTTP/1.1 200")  # keep-alive: all three stay open
        with socket.create_connection(("127.0.0.1", gateway.port)) as extra:
            extra.settimeout(5)
            refused = b""
            try:
                while chunk := extra.recv(65536):
                    refused += chunk
            except ConnectionResetError:
                pass
        assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
        assert b"retry-after: 5" in refused.lower()
        assert_error_shape(refused.partition(b"\r\n\r\n")[2])
        for sock in held:
            assert answer_on(sock).startswith(b"HTTP/1.1 200")  # the others still work
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while gateway.app.ctx.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.app.ctx.open_connections == {}  # closed connections give their slot back
    assert httpx.get(gateway.url + "/healthz").status_code == 200


def test_behind_a_proxy_the_cap_is_left_to_the_proxy(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_MAX_CONNECTIONS_PER_IP": "1", "LLMGATE_PROXIES_COUNT": "1"})
    results: list[int] = []

    def call() -> None:
        with httpx.Client() as client:
            results.append(client.get(gateway.url + "/healthz").status_code)

    held = socket.create_connection(("127.0.0.1", gateway.port))
    try:
        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        held.close()
    assert results == [200, 200, 200]
