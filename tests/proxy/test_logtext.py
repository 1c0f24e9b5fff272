"""Escaped log values: whatever text a client chose, it stays one token on one line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.logtext import log_block, log_value


@settings(max_examples=500, derandomize=True, database=None)
@given(text=st.text())
def test_no_text_can_break_a_line_or_a_token(text: str) -> None:
    shown = log_value(text)
    assert len(shown.splitlines()) <= 1  # splitlines knows every line break, U+2028 and U+0085 included
    assert " " not in shown or (shown.startswith('"') and shown.endswith('"'))
    inner = shown[1:-1] if shown.startswith('"') else shown
    assert '"' not in inner.replace('\\"', "")  # a quote cannot end the value early


def test_ordinary_values_are_unchanged_and_others_readable() -> None:
    assert log_value("qwen3:8b") == "qwen3:8b"
    assert log_value("sk-AbC_12") == "sk-AbC_12"
    assert log_value("müller") == '"müller"'
    assert log_value("a\nb\u2028c\x1b") == '"a\\nb\\u2028c\\x1b"'
    assert log_value("") == '""'


@settings(max_examples=200, derandomize=True, database=None)
@given(text=st.text())
def test_a_block_has_no_line_that_could_pass_for_an_entry(text: str) -> None:
    lines = log_block("Traceback (most recent call last):\n" + text).splitlines()
    assert all(line.startswith("    | ") for line in lines[1:])
