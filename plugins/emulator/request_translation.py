"""A Responses API request (`POST /v1/responses`) -> an Ollama `POST /api/chat` body.

Pure: no I/O. Wrong field types raise `InvalidRequest(message, param=<field path>)`; unknown fields are
ignored. Besides the upstream body, the result carries what the Response object must echo and the
`ToolMap` the stream translation needs to turn the model's calls back into client items.

Mapping (see input_translation and tool_mapping for `input` and `tools`):
- `reasoning.effort` -> `think`: none -> false; minimal/low -> "low"; medium -> "medium"; high/xhigh/max ->
  "high"; absent or a value we do not know -> `think` left unset (the model's default).
- `max_output_tokens` -> `options.num_predict`; `temperature`, `top_p` -> `options`.
- `text.format`: json_schema -> `format` = the schema; json_object -> "json"; text -> nothing.
- `tool_choice: "none"` -> no tools upstream; "required" has no Ollama equivalent and is only echoed.
- `truncation`: "disabled" (the default) -> `truncate: false`, so Ollama (>= 0.12.6) refuses a prompt
  longer than the model's context instead of dropping its oldest messages; "auto" -> Ollama's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.api import InvalidRequest

from .field_checks import (
    invalid_value,
    missing,
    opt_bool,
    opt_dict,
    opt_int,
    opt_list,
    opt_number,
    opt_str,
    wrong_type,
)
from .input_translation import translate_input
from .sealing import ThinkingSealer
from .tool_mapping import ToolMap, ToolTarget, translate_tools

__all__ = ["THINK_BY_EFFORT", "ToolMap", "ToolTarget", "TranslatedRequest", "translate_request"]

THINK_BY_EFFORT: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
_TOOL_CHOICE_MODES = ("none", "auto", "required")
_TRUNCATION_MODES = ("auto", "disabled")
ENCRYPTED_REASONING = "reasoning.encrypted_content"


@dataclass(slots=True)
class TranslatedRequest:
    chat: dict[str, Any]  # body for Ollama /api/chat
    tool_map: ToolMap
    stream: bool
    echo: dict[str, Any]  # request fields every Response object repeats
    # Extra field: did the client ask for `include: ["reasoning.encrypted_content"]`? Pass it on as
    # ResponseEventStream(include_encrypted=...) to behave like OpenAI; Codex always asks.
    include_encrypted: bool = True


def _tool_choice(value: Any) -> str | dict[str, Any]:
    if value is None:
        return "auto"
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_MODES:
            invalid_value("tool_choice", f"expected one of 'none', 'auto', 'required', got '{value}'.")
        return value
    if isinstance(value, dict):
        if not isinstance(value.get("type"), str):
            wrong_type("tool_choice.type", "a string", value.get("type"))
        return value
    wrong_type("tool_choice", "a string or an object", value)


def _reasoning(value: Any) -> tuple[dict[str, Any], bool | str | None]:
    """(echoed `reasoning`, Ollama `think` or None to leave it unset)."""
    reasoning = opt_dict(value, "reasoning") or {}
    effort = opt_str(reasoning.get("effort"), "reasoning.effort")
    summary = opt_str(reasoning.get("summary"), "reasoning.summary")
    echoed = {**reasoning, "effort": effort, "summary": summary}
    return echoed, (THINK_BY_EFFORT.get(effort) if effort is not None else None)


def _text(value: Any) -> tuple[dict[str, Any], Any]:
    """(echoed `text`, Ollama `format` or None)."""
    text = opt_dict(value, "text") or {}
    fmt = opt_dict(text.get("format"), "text.format") or {"type": "text"}
    verbosity = opt_str(text.get("verbosity"), "text.verbosity") or "medium"
    kind = fmt.get("type")
    upstream_format: Any = None
    if kind == "json_schema":
        schema = fmt.get("schema")
        if schema is None:
            missing("text.format.schema")
        if not isinstance(schema, dict):
            wrong_type("text.format.schema", "an object", schema)
        opt_str(fmt.get("name"), "text.format.name")
        fmt = {"name": "response", **fmt}  # the Response model requires a name
        upstream_format = schema
    elif kind == "json_object":
        upstream_format = "json"
    elif kind != "text":
        if not isinstance(kind, str):
            wrong_type("text.format.type", "a string", kind)
        invalid_value(
            "text.format.type", f"expected one of 'text', 'json_schema', 'json_object', got '{kind}'."
        )
    return {**text, "format": fmt, "verbosity": verbosity}, upstream_format


def _options(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Ollama `options`, echoed sampling fields)."""
    max_output_tokens = opt_int(body.get("max_output_tokens"), "max_output_tokens", minimum=1)
    temperature = opt_number(body.get("temperature"), "temperature")
    top_p = opt_number(body.get("top_p"), "top_p")
    options: dict[str, Any] = {}
    if max_output_tokens is not None:
        options["num_predict"] = max_output_tokens
    if temperature is not None:
        options["temperature"] = temperature
    if top_p is not None:
        options["top_p"] = top_p
    echoed = {
        "max_output_tokens": max_output_tokens,
        "temperature": 1.0 if temperature is None else temperature,
        "top_p": 1.0 if top_p is None else top_p,
    }
    return options, echoed


def translate_request(
    body: dict[str, Any],
    *,
    upstream_model: str,
    sealer: ThinkingSealer,
    references: Mapping[str, dict[str, Any]] | None = None,
) -> TranslatedRequest:
    """``references``: the stored items the input's `item_reference` items name (see input_translation)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    stream = opt_bool(body.get("stream"), "stream") or False
    instructions = opt_str(body.get("instructions"), "instructions")
    input_value = body.get("input")
    if input_value is None and not instructions:
        missing("input")

    tool_choice = _tool_choice(body.get("tool_choice"))
    tools = opt_list(body.get("tools"), "tools") or []
    upstream_tools, tool_map = translate_tools(tools, tool_choice)
    messages = translate_input(
        instructions, input_value, tool_map=tool_map, sealer=sealer, references=references
    )
    reasoning, think = _reasoning(body.get("reasoning"))
    text, upstream_format = _text(body.get("text"))
    options, sampling = _options(body)

    include = opt_list(body.get("include"), "include") or []
    truncation = opt_str(body.get("truncation"), "truncation") or "disabled"
    if truncation not in _TRUNCATION_MODES:
        invalid_value("truncation", f"expected one of 'auto', 'disabled', got '{truncation}'.")
    service_tier = opt_str(body.get("service_tier"), "service_tier")
    parallel_tool_calls = opt_bool(body.get("parallel_tool_calls"), "parallel_tool_calls")
    store = opt_bool(body.get("store"), "store")
    background = opt_bool(body.get("background"), "background")
    top_logprobs = opt_int(body.get("top_logprobs"), "top_logprobs", minimum=0, maximum=20)

    chat: dict[str, Any] = {"model": upstream_model, "messages": messages, "stream": stream}
    if upstream_tools:
        chat["tools"] = upstream_tools
    if think is not None:
        chat["think"] = think
    if upstream_format is not None:
        chat["format"] = upstream_format
    if options:
        chat["options"] = options
    if truncation == "disabled":
        chat["truncate"] = False

    echo: dict[str, Any] = {
        "instructions": instructions,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": True if parallel_tool_calls is None else parallel_tool_calls,
        "metadata": opt_dict(body.get("metadata"), "metadata") or {},
        "reasoning": reasoning,
        "text": text,
        **sampling,
        "max_tool_calls": opt_int(body.get("max_tool_calls"), "max_tool_calls", minimum=0),
        "store": True if store is None else store,
        "background": bool(background),
        "prompt_cache_key": opt_str(body.get("prompt_cache_key"), "prompt_cache_key"),
        "previous_response_id": opt_str(body.get("previous_response_id"), "previous_response_id"),
        "truncation": truncation,
        "user": opt_str(body.get("user"), "user"),
        "safety_identifier": opt_str(body.get("safety_identifier"), "safety_identifier"),
        # OpenAI reports the tier it actually used; "auto" resolves to "default".
        "service_tier": "default" if service_tier in (None, "auto") else service_tier,
        "top_logprobs": top_logprobs or 0,
    }
    return TranslatedRequest(
        chat=chat,
        tool_map=tool_map,
        stream=stream,
        echo=echo,
        include_encrypted=ENCRYPTED_REASONING in include,
    )
