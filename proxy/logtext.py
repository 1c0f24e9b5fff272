"""Values in log lines, escaped so that no text a client chose can start a line of its own.

Model names, usernames, upstream labels and paths reach our logs; a newline in one of them
would otherwise forge a line (a fake request-log entry, a fake error). ``log_value`` renders one
value of a ``key=value`` line: plain when it is printable ASCII without spaces, quotes or
backslashes (the common case, unchanged), else quoted with every control or line-breaking
character escaped. ``log_block`` keeps a multi-line text (a traceback) recognisably one entry.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[!#-\[\]-~]+")  # printable ASCII except space, '"' and '\'
_TO_ESCAPE = re.compile(r'["\\]|[^ -~]')
_NAMED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():  # letters and symbols of other scripts stay readable
        return char
    code = ord(char)  # controls, U+0085, U+2028, U+2029 and other breaks or invisible marks
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def log_value(value: object) -> str:
    """``value`` as one token of a log line: unchanged when harmless, else quoted and escaped."""
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    return '"' + _TO_ESCAPE.sub(_escape, text) + '"'


_UNPRINTABLE = re.compile(r"[^ -~]")


def log_block(text: str) -> str:
    """A multi-line text (a traceback) with every line after the first marked as its continuation,
    so none can pass for a new entry; quotes stay as they are, invisible characters are escaped."""
    lines = (_UNPRINTABLE.sub(_escape, line) for line in text.splitlines())
    return "\n    | ".join(lines)
