"""Sign-in, registration and password-change throttles: counted before the password is checked,
held in the database (so across workers), keyed by the real client address behind a proxy."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from argon2 import PasswordHasher

import proxy.security
from dashboard.models import AuthThrottle
from dashboard.throttle import Rule, Throttle, address_key
from proxy.storage.models import User
from tests.dashboard.conftest import PASSWORD, DashboardClient, make_user
from tests.support.gateway import GatewayServer


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingHasher(PasswordHasher):
    """The cheap test hasher, counting verifications and noting the threads that hashed."""

    def __init__(self, production_cost: bool = False) -> None:
        if production_cost:
            super().__init__()
        else:
            super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def _note(self) -> None:
        with self._lock:
            self.threads.add(threading.current_thread().name)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
        self._note()
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._note()
        return super().hash(password, salt=salt)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(proxy.security, "_password_hasher", counting)
    return counting


def dashboard(free: int = 5, per_address: int = 20, registrations: int = 5, **more: object) -> dict[str, object]:
    options = {"signin_free_failures": free, "signin_free_failures_per_address": per_address,
               "registrations_per_address": registrations, **more}
    return {"plugins": {"dashboard": options}}


# --- the counter itself, on SQLite and PostgreSQL ---------------------------------------------


def test_attempts_are_counted_before_the_check_and_back_off(start_gateway, database_url: str) -> None:
    gateway = start_gateway(database_url=database_url)
    clock = Clock()
    throttle = Throttle(window=900, max_delay=30, clock=clock)
    rule = Rule("test", 3)

    def take(value: str = "ada") -> float:
        return gateway.run(throttle.take(rule, value))

    assert [take() for _ in range(3)] == [0, 0, 0]  # the third uses the last free slot
    assert take() == 1.0  # refused unchecked: wait 1 s
    assert take("other") == 0  # keys are separate
    clock.now += 1
    assert take() == 0  # one more after the wait; the next waits twice as long
    assert take() == 2.0
    clock.now += 2
    assert take() == 0
    for _ in range(10):  # the delay doubles up to the cap
        clock.now += 60
        take()
    assert take() == 30.0
    clock.now += 30 + 900  # a quiet window forgets everything
    assert [take() for _ in range(3)] == [0, 0, 0]


def test_give_back_clear_and_forget(start_gateway, database_url: str) -> None:
    gateway = start_gateway(database_url=database_url)
    clock = Clock()
    throttle = Throttle(window=60, max_delay=30, clock=clock)
    rule = Rule("test", 2)
    run = gateway.run
    assert run(throttle.take(rule, "x")) == 0
    run(throttle.give_back(rule, "x"))  # a success: its slot comes back
    assert run(throttle.take(rule, "x")) == 0
    assert run(throttle.take(rule, "x")) == 0
    assert run(throttle.take(rule, "x")) == 1.0
    run(throttle.clear(rule, "x"))
    assert run(throttle.take(rule, "x")) == 0
    run(throttle.take(rule, "y" * 500))  # long values are hashed into a bounded key
    assert run(AuthThrottle.all().count()) == 2
    clock.now += 60 + 30 + 1
    run(throttle.forget_old())
    assert run(AuthThrottle.all().count()) == 0


def test_addresses_are_grouped_as_the_throttle_sees_them() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("[2001:db8:1:2:3:4:5:6]") == address_key("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("") == "unknown"


# --- through the dashboard ------------------------------------------------------------------


async def _parallel_signins(gateway: GatewayServer, username: str, passwords: list[str],
                            headers: Callable[[int], dict[str, str]] | None = None) -> list[httpx.Response]:
    setup = DashboardClient(gateway)
    token = setup.csrf("/signin")
    cookies = dict(setup.http.cookies)
    setup.http.close()
    async with httpx.AsyncClient(base_url=gateway.url + "/dashboard", cookies=cookies, timeout=60) as client:
        return await asyncio.gather(*(
            client.post("/signin", data={"username": username, "password": password, "csrf_token": token},
                        headers=headers(i) if headers else None)
            for i, password in enumerate(passwords)
        ))


def test_thirty_parallel_guesses_get_at_most_the_free_checks(start_gateway, database_url: str, hasher) -> None:
    gateway = start_gateway(database_url=database_url, overrides=dashboard(free=5))
    make_user(gateway, "target")
    hasher.verified = 0
    answers = asyncio.run(_parallel_signins(gateway, "target", [f"wrong guess {i}" for i in range(30)]))
    statuses = sorted(r.status_code for r in answers)
    checked = statuses.count(401)
    print(f"\n30 parallel wrong passwords: {checked} checked (401), {statuses.count(429)} refused (429)")
    assert checked <= 5 and hasher.verified == checked
    assert statuses.count(429) == 30 - checked
    refused = [r for r in answers if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert "Too many failed sign-ins" in refused[0].text
    # The right password is refused too until the wait is over, then it works. The burst's own
    # block may have passed already on a slow machine, so one more wrong guess after it starts a
    # fresh (doubled, at least 2 s) block to test against.
    time.sleep(int(refused[0].headers["retry-after"]) + 0.1)
    client = DashboardClient(gateway)
    assert client.signin("target", password="one more wrong guess").status_code == 401
    blocked = client.signin("target")
    assert blocked.status_code == 429
    time.sleep(int(blocked.headers["retry-after"]) + 0.1)
    assert client.signin("target").status_code == 302
    client.http.close()


def test_behind_a_proxy_one_address_failing_does_not_lock_out_another(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_PROXIES_COUNT": "1"}, overrides=dashboard(free=100, per_address=3))
    make_user(gateway, "colleague")
    # nginx appends the address it saw: the client may have sent its own X-Forwarded-For first.
    attacker = {"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}
    answers = asyncio.run(_parallel_signins(gateway, "someone", ["bad password!"] * 6, lambda i: attacker))
    assert sorted(r.status_code for r in answers).count(401) <= 3
    blocked = asyncio.run(_parallel_signins(gateway, "colleague", [PASSWORD], lambda i: attacker))[0]
    assert blocked.status_code == 429  # the attacker's own address is blocked, whoever it names
    colleague = asyncio.run(_parallel_signins(gateway, "colleague", [PASSWORD],
                                              lambda i: {"X-Forwarded-For": "198.51.100.8"}))[0]
    assert colleague.status_code == 302


def test_without_the_setting_a_forged_forwarded_for_is_ignored(start_gateway) -> None:
    gateway = start_gateway(overrides=dashboard(free=100, per_address=3))
    make_user(gateway, "victim")
    forged = asyncio.run(_parallel_signins(gateway, "someone", ["bad password!"] * 3,
                                           lambda i: {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"192.0.2.{i}"}))
    assert [r.status_code for r in forged] == [401, 401, 401]
    fresh_forgery = {"X-Forwarded-For": "203.0.113.99", "X-Real-IP": "203.0.113.99"}
    answer = asyncio.run(_parallel_signins(gateway, "victim", [PASSWORD], lambda i: fresh_forgery))[0]
    assert answer.status_code == 429  # all came from 127.0.0.1, whatever the headers claimed


def test_real_ip_header_names_the_client(start_gateway) -> None:
    gateway = start_gateway(env={"LLMGATE_REAL_IP_HEADER": "X-Real-IP"}, overrides=dashboard(free=100, per_address=2))
    make_user(gateway, "user1")
    bad = asyncio.run(_parallel_signins(gateway, "x1", ["bad password!"] * 2, lambda i: {"X-Real-IP": "192.0.2.1"}))
    assert [r.status_code for r in bad] == [401, 401]
    same = asyncio.run(_parallel_signins(gateway, "user1", [PASSWORD], lambda i: {"X-Real-IP": "192.0.2.1"}))[0]
    other = asyncio.run(_parallel_signins(gateway, "user1", [PASSWORD], lambda i: {"X-Real-IP": "192.0.2.2"}))[0]
    assert (same.status_code, other.status_code) == (429, 302)


def test_a_success_gives_the_address_its_slot_back(start_gateway) -> None:
    gateway = start_gateway(overrides=dashboard(free=100, per_address=3))
    for name in ("user1", "user2", "user3", "user4"):
        make_user(gateway, name)
    client = DashboardClient(gateway)
    for name in ("user1", "user2", "user3", "user4"):  # four successes from one address: none counts
        assert client.signin(name).status_code == 302
    client.http.close()


def test_password_change_is_throttled_per_account(start_gateway, client_for, hasher) -> None:
    gateway = start_gateway(overrides=dashboard(free=2))
    client = client_for("changer", gw=gateway)
    hasher.verified = 0
    form = {"current_password": "not it at all", "new_password": "a brand new password"}
    statuses = [client.post("/account/password", form).status_code for _ in range(4)]
    assert statuses == [400, 400, 429, 429] and hasher.verified == 2
    refused = client.post("/account/password", form)
    assert "Too many wrong current passwords" in refused.text and int(refused.headers["retry-after"]) >= 1


def test_registration_is_throttled_per_address(start_gateway, hasher) -> None:
    gateway = start_gateway(overrides=dashboard(registrations=3))
    client = DashboardClient(gateway)
    assert client.register("bad", "x").status_code == 400  # a form mistake costs no attempt
    statuses = [client.register(f"newcomer{i}").status_code for i in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    refused = client.register("newcomer9")
    assert "Too many new accounts" in refused.text and int(refused.headers["retry-after"]) >= 1
    assert gateway.run(User.filter(username__startswith="newcomer").count()) == 3
    client.http.close()


def test_registration_burst_hashes_off_the_event_loop(start_gateway, fake, monkeypatch) -> None:
    """16 registrations at once with argon2 at its production cost, /healthz timed meanwhile."""
    real = CountingHasher(production_cost=True)
    monkeypatch.setattr(proxy.security, "_password_hasher", real)
    gateway = start_gateway(overrides=dashboard(registrations=16))
    setup = DashboardClient(gateway)
    token = setup.csrf("/register")
    cookies = dict(setup.http.cookies)
    setup.http.close()

    def healthz_before(count: int) -> list[float]:
        times = []
        with httpx.Client(base_url=gateway.url) as client:
            for _ in range(count):
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                times.append(time.perf_counter() - started)
        return times

    async def burst() -> tuple[list[int], list[float]]:
        async with httpx.AsyncClient(base_url=gateway.url, cookies=cookies, timeout=120) as client:
            registrations = [
                client.post("/dashboard/register", data={"username": f"burst{i}", "password": PASSWORD, "csrf_token": token})
                for i in range(16)
            ]
            task = asyncio.gather(*registrations)
            latencies = []
            while not task.done():
                started = time.perf_counter()
                await client.get("/healthz")
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)
            return [r.status_code for r in await task], latencies

    idle = healthz_before(30)
    statuses, during = asyncio.run(burst())
    assert statuses == [302] * 16
    assert "gateway" not in real.threads and real.threads  # every hash ran in the password pool
    assert all(name.startswith("password-hash") for name in real.threads)
    p95 = statistics.quantiles(during, n=20)[-1] if len(during) >= 2 else during[0]
    print(f"\n/healthz during 16 registrations: {len(during)} requests, p50 {statistics.median(during) * 1000:.1f} ms,"
          f" p95 {p95 * 1000:.1f} ms, max {max(during) * 1000:.1f} ms (idle p50 {statistics.median(idle) * 1000:.1f} ms)")


# --- registration modes -----------------------------------------------------------------------


def test_the_first_registered_account_becomes_the_admin(gateway: GatewayServer) -> None:
    first, second = DashboardClient(gateway), DashboardClient(gateway)
    assert first.register("founder").status_code == 302
    assert second.register("follower").status_code == 302
    admins = gateway.run(User.filter(is_admin=True).values_list("username", flat=True))
    assert admins == ["founder"]


def test_approval_mode_needs_an_admin_before_keys(start_gateway, client_for) -> None:
    gateway = start_gateway(env={"LLMGATE_REGISTRATION": "approval"})
    admin = client_for("boss", admin=True, gw=gateway)
    newcomer = client_for(gw=gateway)
    page = newcomer.get("/register")
    assert "approves new accounts" in page.text
    response = newcomer.register("newbie")
    assert response.headers["location"].endswith("done=awaiting_approval")
    assert newcomer.signin("newbie").status_code == 302
    assert 'id="awaiting-approval"' in newcomer.get("/keys").text
    refused = newcomer.post("/keys", {"name": "k", "mode": "bypass"})
    assert refused.status_code == 403 and "not approved your account yet" in refused.text
    user = gateway.run(User.get(username="newbie"))
    assert "Awaiting approval" in admin.get("/admin").text
    assert admin.post(f"/admin/users/{user.id}/approve").status_code == 302
    assert gateway.run(User.get(username="newbie")).approved
    assert newcomer.create_key().startswith("sk-")


def test_closed_registration_admins_create_accounts(start_gateway, client_for) -> None:
    gateway = start_gateway(env={"LLMGATE_REGISTRATION": "closed"})
    visitor = client_for(gw=gateway)
    assert visitor.get("/register").status_code == 403
    admin = client_for("root", admin=True, gw=gateway)
    created = admin.post("/admin/users", {"username": "invited", "password": PASSWORD})
    assert created.status_code == 302 and created.headers["location"].endswith("done=user_created")
    assert visitor.signin("invited").status_code == 302
    taken = admin.post("/admin/users", {"username": "invited", "password": PASSWORD})
    assert taken.status_code == 409 and "taken" in taken.text
    member = client_for("member", gw=gateway)
    assert member.post("/admin/users", {"username": "sneaky", "password": PASSWORD}).status_code == 404


def test_a_wrong_registration_mode_is_refused_at_start(make_settings) -> None:
    from config.settings import SettingsError
    from proxy.app import create_app

    with pytest.raises(SettingsError, match="registration .LLMGATE_REGISTRATION. must be one of open, approval, closed"):
        create_app(make_settings(env={"LLMGATE_REGISTRATION": "maybe"}))

