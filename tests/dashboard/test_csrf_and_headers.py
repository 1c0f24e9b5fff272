"""CSRF tokens on every form, security headers on every page, cookie flags."""

from __future__ import annotations

import re

import httpx

from dashboard import build_blueprint
from proxy.storage.models import ApiKey
from tests.dashboard.conftest import PASSWORD, make_api_key, make_user
from tests.support.gateway import GatewayServer

PAGES = ("/", "/keys", "/ollama-keys", "/usage", "/guide", "/account", "/admin", "/keys/1/revoke", "/usage/api-keys/1")


def test_every_post_without_a_valid_token_is_refused(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "alice")
    api_key, _ = make_api_key(gateway, "alice")
    client = client_for("alice", admin=True)
    routes = build_blueprint()._future_routes
    posts = sorted({r.uri.removeprefix("/dashboard") for r in routes if "POST" in r.methods and "path:path" not in r.uri})
    assert len(posts) >= 15
    for uri in posts:
        path = re.sub(r"<[^>]+>", str(api_key.id), uri)
        for token in ("", "forged-token-0123456789"):
            response = client.http.post(path, data={"csrf_token": token, "name": "x", "mode": "bypass", "username": "alice", "password": PASSWORD})
            assert response.status_code == 403, (path, token, response.status_code)
    assert gateway.run(ApiKey.get(id=api_key.id)).revoked_at is None
    assert gateway.run(ApiKey.all().count()) == 1


def test_forms_carry_the_token(gateway: GatewayServer, client_for) -> None:
    client = client_for("alice", admin=True)
    client.create_key("k", "bypass")
    for path in PAGES:
        page = client.get(path).text
        forms = re.findall(r'<form method="post".*?</form>', page, re.S)
        for form in forms:
            assert f'name="csrf_token" value="{client.token}"' in form, (path, form[:80])


def test_security_headers_and_no_inline_script_or_style(gateway: GatewayServer, client_for) -> None:
    client = client_for("alice", admin=True)
    anonymous = httpx.Client(base_url=gateway.url + "/dashboard")
    responses = [client.get(p) for p in PAGES] + [anonymous.get(p) for p in ("/signin", "/register", "/guide", "/nope/404")]
    responses.append(anonymous.get("/static/app.css"))
    for response in responses:
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"
        if "text/html" in headers.get("content-type", ""):
            assert headers["cache-control"] == "no-store"
            assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), response.url
            assert not re.search(r"\sstyle=|\son[a-z]+=", response.text), response.url
    assert "javascript" in anonymous.get("/static/app.js").headers["content-type"]


def test_cookie_flags_over_http_and_behind_https(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "alice")
    for headers, secure in (({}, False), ({"x-forwarded-proto": "https"}, True)):
        client = httpx.Client(base_url=gateway.url + "/dashboard", headers=headers)
        page = client.get("/signin")
        pre = page.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        # httpx keeps Secure cookies from plain-http requests: send the double-submit cookie by hand.
        response = httpx.post(
            gateway.url + "/dashboard/signin", headers={**headers, "cookie": f"llmgate_csrf={token}"},
            data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        )
        cookie = response.headers["set-cookie"]
        for value in (pre, cookie):
            assert "HttpOnly" in value and "SameSite=Lax" in value
            assert ("Secure" in value) is secure
        assert cookie.startswith("llmgate_session=")
