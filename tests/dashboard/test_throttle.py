"""Failed sign-ins are slowed down per account and per address."""

from __future__ import annotations

from dashboard.throttle import SignInThrottle
from tests.dashboard.conftest import PASSWORD, make_user
from tests.support.gateway import GatewayServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_and_success_clears_it() -> None:
    clock = Clock()
    throttle = SignInThrottle(account_free_failures=3, address_free_failures=100, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("Ada", "1.2.3.4") == 0
        throttle.failed("Ada", "1.2.3.4")
    assert throttle.retry_after("ada", "5.6.7.8") == 1.0  # per account, whatever the address or case
    throttle.failed("ada", "1.2.3.4")
    assert throttle.retry_after("ada", "1.2.3.4") == 2.0
    clock.now += 2
    assert throttle.retry_after("ada", "1.2.3.4") == 0
    throttle.succeeded("ada")
    assert throttle.retry_after("ada", "1.2.3.4") == 0


def test_per_address_limit_covers_many_accounts_and_records_expire() -> None:
    clock = Clock()
    throttle = SignInThrottle(account_free_failures=100, address_free_failures=3, window=60, clock=clock)
    for name in ("a", "b", "c"):
        throttle.failed(name, "9.9.9.9")
    assert throttle.retry_after("someone-else", "9.9.9.9") == 1.0
    assert throttle.retry_after("someone-else", "8.8.8.8") == 0
    clock.now += 61
    assert throttle.retry_after("someone-else", "9.9.9.9") == 0


def test_delay_is_capped_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = SignInThrottle(account_free_failures=1, max_delay=30, maxsize=10, clock=clock)
    for _ in range(20):
        throttle.failed("x", "1.1.1.1")
    assert throttle.retry_after("x", "1.1.1.1") == 30
    for i in range(50):
        throttle.failed(f"user{i}", f"10.0.0.{i}")
    assert len(throttle.accounts) <= 10 and len(throttle.addresses) <= 10


def test_sign_in_is_refused_while_slowed_even_with_the_right_password(start_gateway, client_for) -> None:
    gateway: GatewayServer = start_gateway(overrides={"plugins": {"dashboard": {"signin_free_failures": 2}}})
    make_user(gateway, "target")
    client = client_for(gw=gateway)
    assert client.signin("target", "wrong one!").status_code == 401
    assert client.signin("target", "wrong two!").status_code == 401
    slowed = client.signin("target", PASSWORD)
    assert slowed.status_code == 429 and "Too many failed sign-ins" in slowed.text
    other = client_for(gw=gateway)
    make_user(gateway, "bystander")
    assert other.signin("bystander").status_code == 302  # other accounts from the same address are fine
