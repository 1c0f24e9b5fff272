"""Register, sign in and out, change password, sessions."""

from __future__ import annotations

import httpx

from dashboard.models import DashboardSession
from proxy.storage.models import User
from tests.dashboard.conftest import PASSWORD, DashboardClient, make_user
from tests.support.gateway import GatewayServer


def test_register_then_sign_in_then_out(gateway: GatewayServer, client_for) -> None:
    client = client_for()
    response = client.register("grace")
    assert response.status_code == 302 and response.headers["location"].endswith("/signin?done=registered")
    assert "Sign in to continue" in client.get("/signin?done=registered").text
    response = client.signin("grace")
    assert response.status_code == 302 and response.headers["location"] == "/dashboard/"
    assert "Hello, grace" in client.get("/").text
    assert client.post("/signout").status_code == 302
    assert client.get("/").status_code == 302  # signed out: back to the sign-in page


def test_register_mistakes_have_clear_messages(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "taken")
    client = client_for()
    assert "taken" in (r := client.register("taken")).text and r.status_code == 409
    assert "at least 8 characters" in (r := client.register("newbie", "short")).text and r.status_code == 400
    assert "must not be the username" in client.register("newbie123", "newbie123").text
    assert "3 to 64" in client.register("x").text


def test_wrong_credentials_do_not_say_which_part_was_wrong(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "hopper")
    client = client_for()
    unknown = client.signin("nobody", PASSWORD)
    wrong = client.signin("hopper", "wrong password!")
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong username or password." in unknown.text and "Wrong username or password." in wrong.text


def test_registration_can_be_closed(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_REGISTRATION_OPEN": "false"})
    client = DashboardClient(gateway)
    page = client.get("/register")
    assert page.status_code == 403 and "Registration is closed" in page.text
    token = client.csrf("/signin")
    response = client.http.post("/register", data={"username": "eve", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403
    assert gateway.run(User.filter(username="eve").exists()) is False
    assert 'href="/dashboard/register"' not in client.get("/signin").text


def test_disabled_user_cannot_sign_in(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "mallory")
    gateway.run(User.filter(username="mallory").update(disabled=True))
    response = client_for().signin("mallory")
    assert response.status_code == 403 and "disabled" in response.text


def test_session_cookie_holds_a_new_random_id_stored_only_as_hash(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "lin")
    client = client_for()
    client.signin("lin")
    first = client.http.cookies["llmgate_session"]
    client.signin("lin")
    second = client.http.cookies["llmgate_session"]
    assert first != second
    stored = gateway.run(DashboardSession.all().values_list("id", flat=True))
    assert len(stored) == 1 and first not in stored and second not in stored  # the old one was ended
    stale = httpx.get(gateway.url + "/dashboard/keys", cookies={"llmgate_session": first})
    assert stale.status_code == 302


def test_sign_in_redirects_only_inside_the_dashboard(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "ned")
    client = client_for()
    token = client.csrf("/signin")
    for target, expected in (("/dashboard/usage", "/dashboard/usage"), ("//evil.example/", "/dashboard/"), ("https://evil.example", "/dashboard/")):
        response = client.http.post("/signin", data={"username": "ned", "password": PASSWORD, "csrf_token": token, "next": target})
        assert response.headers["location"] == expected


def test_change_password(gateway: GatewayServer, client_for) -> None:
    make_user(gateway, "joan")
    client, other = client_for("joan"), client_for("joan")
    assert "not right" in client.post("/account/password", {"current_password": "nope", "new_password": "a new long secret"}).text
    assert "at least 8" in client.post("/account/password", {"current_password": PASSWORD, "new_password": "short"}).text
    response = client.post("/account/password", {"current_password": PASSWORD, "new_password": "a new long secret"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this browser stays signed in
    assert other.get("/").status_code == 302  # the other one was signed out
    assert client_for().signin("joan", "a new long secret").status_code == 302
