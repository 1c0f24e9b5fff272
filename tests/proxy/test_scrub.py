"""The one scrubber of upstream error texts: key material goes, what helps a user stays."""

from __future__ import annotations

import pytest

from proxy.context import Upstream, UpstreamFailure
from proxy.scrub import REDACTED, scrub_secrets

OLLAMA_KEY = "0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOpQrStUvWx"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer short.token-1 refused", "Authorization: Bearer [redacted] refused"),
        ("bad key sk-AbCdEfGhIjKlMnOp", "bad key [redacted]"),
        (f"key {OLLAMA_KEY} is invalid", "key [redacted] is invalid"),
        ("model 'qwen3-coder-480b-a35b-instruct' not found", "model 'qwen3-coder-480b-a35b-instruct' not found"),
        ("you (ollama) have reached your weekly usage limit", "you (ollama) have reached your weekly usage limit"),
        ("context length exceeded: 70000 > 65536", "context length exceeded: 70000 > 65536"),
    ],
)
def test_credential_shapes_go_and_ordinary_text_stays(text: str, kept: str) -> None:
    assert scrub_secrets(text) == kept


def test_the_upstreams_own_key_goes_whatever_its_shape() -> None:
    assert scrub_secrets("the key short-one was refused", "short-one") == f"the key {REDACTED} was refused"


def test_every_upstream_failure_is_scrubbed_when_it_is_made() -> None:
    upstream = Upstream(label="mine", base_url="http://x", api_key="my-own-key", owner="ollama_keys")
    failure = UpstreamFailure(upstream, 401, f"my-own-key and Bearer {OLLAMA_KEY} are not valid")
    assert failure.message == f"{REDACTED} and Bearer {REDACTED} are not valid"
