"""Type checks for Responses API request fields, failing with OpenAI-style 400 messages.

Every failure is `InvalidRequest(message, param=<field path>)`, the message naming the field and what was
expected, e.g.
``Invalid type for 'input[2].content': expected a string or an array, but got an integer instead.``
"""

from __future__ import annotations

from typing import Any, NoReturn

from proxy.api import InvalidRequest


def describe(value: Any) -> str:
    """How a JSON value's type reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def wrong_type(param: str, expected: str, value: Any) -> NoReturn:
    raise InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {describe(value)} instead.", param=param
    )


def invalid_value(param: str, message: str) -> NoReturn:
    raise InvalidRequest(f"Invalid value for '{param}': {message}", param=param)


def missing(param: str) -> NoReturn:
    raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param)


def opt_str(value: Any, param: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    wrong_type(param, "a string", value)


def req_str(value: Any, param: str) -> str:
    if value is None:
        missing(param)
    if isinstance(value, str):
        return value
    wrong_type(param, "a string", value)


def opt_bool(value: Any, param: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    wrong_type(param, "a boolean", value)


def opt_number(value: Any, param: str) -> float | int | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    wrong_type(param, "a number", value)


# The default range of an integer field: what every consumer (Ollama's Go ints, a 32-bit database
# column, JavaScript clients) holds exactly. 1e308 is "an integer" to JSON, not to them.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


def opt_int(value: Any, param: str, minimum: int = INT_MIN, maximum: int = INT_MAX) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)  # JSON has one number type: accept 128.0 where an integer is meant
    else:
        wrong_type(param, "an integer", value)
    if not minimum <= number <= maximum:
        invalid_value(param, f"expected an integer from {minimum} to {maximum}, got {value:g}.")
    return number


def opt_dict(value: Any, param: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    wrong_type(param, "an object", value)


def opt_list(value: Any, param: str) -> list[Any] | None:
    if value is None or isinstance(value, list):
        return value
    wrong_type(param, "an array", value)


def req_dict(value: Any, param: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    wrong_type(param, "an object", value)
