"""Responses API tools -> Ollama function tools, and the map that turns the model's calls back.

Ollama only knows JSON-schema functions, so:
- `function` tools pass through;
- `custom` (free-form) tools, e.g. Codex's `apply_patch`, become a function with one required string
  parameter `input` whose descriptions carry the tool's description and its grammar;
- `namespace` tools are flattened to ``<namespace>__<tool>`` (OpenAI's name rules: ``[A-Za-z0-9_-]{1,64}``,
  and no dots, which would break gpt-oss's ``functions.<name>`` recipients);
- hosted or unknown tool types (web_search, tool_search, mcp, ...) are accepted and left out: clients mix
  them into every request and rejecting one would kill the turn.

`ToolMap` remembers, per upstream name, what the client called the tool, so a call comes back as the right
item type (`function_call` / `custom_tool_call`) with the original name and `namespace`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal, NamedTuple

from .field_checks import opt_dict, opt_list, opt_str, req_str, wrong_type

ToolKind = Literal["function", "custom"]

MAX_TOOL_NAME = 64
NAMESPACE_SEPARATOR = "__"
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_-]")
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class ToolTarget(NamedTuple):
    """What a model-facing (upstream) tool name stands for on the client side."""

    kind: ToolKind
    name: str
    namespace: str | None


def _shorten(name: str, source: str) -> str:
    """Fit ``name`` into MAX_TOOL_NAME, keeping it unique with a hash of ``source``."""
    if len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha1(source.encode("utf-8")).hexdigest()[:8]
    return f"{name[: MAX_TOOL_NAME - 9]}_{digest}"


def flatten_name(namespace: str, name: str) -> str:
    """The model-facing name of tool ``name`` in ``namespace`` (deterministic, so history replays match)."""
    joined = f"{namespace.rstrip('_')}{NAMESPACE_SEPARATOR}{name}"
    return _shorten(_NOT_NAME_CHAR.sub("_", joined), joined)


class ToolMap(Mapping[str, ToolTarget]):
    """Upstream (flattened) tool name -> ToolTarget(kind, original name, namespace | None)."""

    __slots__ = ("_names", "_targets")

    def __init__(self) -> None:
        self._targets: dict[str, ToolTarget] = {}
        self._names: dict[tuple[str | None, str], str] = {}

    def add(self, kind: ToolKind, name: str, namespace: str | None = None) -> str:
        """Register a client tool; returns the name the model will see."""
        key = (namespace, name)
        known = self._names.get(key)
        if known is not None:
            return known
        base = name if namespace is None else flatten_name(namespace, name)
        upstream = base
        suffix = 2
        while upstream in self._targets:  # two client tools flattening to one name
            upstream = _shorten(f"{base}_{suffix}", f"{base}/{suffix}")
            suffix += 1
        self._targets[upstream] = ToolTarget(kind, name, namespace)
        self._names[key] = upstream
        return upstream

    def resolve(self, called: str) -> ToolTarget | None:
        """The client tool a model-produced name means. Besides exact names, tolerates two model
        quirks: a ``functions.`` prefix, and a namespaced tool called by its bare name (if unambiguous)."""
        target = self._targets.get(called)
        if target is not None:
            return target
        if called.startswith("functions."):
            return self.resolve(called[len("functions.") :])
        matches = [t for t in self._targets.values() if t.name == called]
        return matches[0] if len(matches) == 1 else None

    def upstream_name(self, name: str, namespace: str | None = None) -> str:
        """Model-facing name for a tool seen in history (registered or not)."""
        known = self._names.get((namespace, name))
        if known is not None:
            return known
        return name if namespace is None else flatten_name(namespace, name)

    def __getitem__(self, upstream: str) -> ToolTarget:
        return self._targets[upstream]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"ToolMap({self._targets!r})"


def _function_spec(name: str, description: str | None, parameters: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description or "",
            "parameters": parameters if parameters is not None else dict(_EMPTY_PARAMETERS),
        },
    }


def _custom_spec(
    name: str, description: str | None, fmt: dict[str, Any] | None, param: str
) -> dict[str, Any]:
    """A free-form tool as a function taking its raw text in one string parameter ``input``."""
    input_help = "The raw free-form text for this tool, exactly as it should be consumed (not JSON-encoded)."
    if fmt is not None and fmt.get("type") == "grammar":
        definition = opt_str(fmt.get("definition"), f"{param}.format.definition") or ""
        syntax = opt_str(fmt.get("syntax"), f"{param}.format.syntax") or "lark"
        input_help += f" It must match this {syntax} grammar:\n{definition}"
    summary = (description or "").rstrip()
    summary += (
        "\n\n" if summary else ""
    ) + "This is a free-form tool: pass the whole text as the single string argument `input`."
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": summary,
            "parameters": {
                "type": "object",
                "properties": {"input": {"type": "string", "description": input_help}},
                "required": ["input"],
            },
        },
    }


def _chosen_names(tool_choice: Any) -> set[str] | None:
    """Tool names `tool_choice` restricts the model to (None: no restriction)."""
    if not isinstance(tool_choice, dict):
        return None
    kind = tool_choice.get("type")
    if kind in ("function", "custom") and isinstance(tool_choice.get("name"), str):
        return {tool_choice["name"]}
    if kind == "allowed_tools" and isinstance(tool_choice.get("tools"), list):
        names = {t.get("name") for t in tool_choice["tools"] if isinstance(t, dict)}
        names.discard(None)
        return names  # type: ignore[return-value]
    return None


def translate_tools(tools: Any, tool_choice: Any) -> tuple[list[dict[str, Any]], ToolMap]:
    """Client `tools` -> (Ollama `tools`, ToolMap). `tool_choice: "none"` sends no tools; a named choice
    (function/custom/allowed_tools) sends only the named ones: Ollama cannot force a call otherwise."""
    tool_map = ToolMap()
    upstream: list[dict[str, Any]] = []
    items = opt_list(tools, "tools") or []
    chosen = _chosen_names(tool_choice)

    def add(kind: ToolKind, spec: dict[str, Any], namespace: str | None, param: str) -> None:
        name = req_str(spec.get("name"), f"{param}.name")
        description = opt_str(spec.get("description"), f"{param}.description")
        upstream_name = tool_map.add(kind, name, namespace)  # mapped even when not offered (history replay)
        if kind == "function":
            parameters = opt_dict(spec.get("parameters"), f"{param}.parameters")
            entry = _function_spec(upstream_name, description, parameters)
        else:
            fmt = opt_dict(spec.get("format"), f"{param}.format")
            entry = _custom_spec(upstream_name, description, fmt, param)
        if chosen is None or name in chosen:
            upstream.append(entry)

    for i, tool in enumerate(items):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            wrong_type(param, "an object", tool)
        kind = tool.get("type")
        if kind == "function":
            # Tolerate the Chat Completions shape {"type":"function","function":{...}}.
            inner = tool.get("function")
            if tool.get("name") is None and isinstance(inner, dict):
                add("function", inner, None, f"{param}.function")
            else:
                add("function", tool, None, param)
        elif kind == "custom":
            add("custom", tool, None, param)
        elif kind == "namespace":
            namespace = req_str(tool.get("name"), f"{param}.name")
            for j, member in enumerate(opt_list(tool.get("tools"), f"{param}.tools") or []):
                member_param = f"{param}.tools[{j}]"
                if not isinstance(member, dict):
                    wrong_type(member_param, "an object", member)
                if member.get("type") in ("function", "custom"):
                    add(member["type"], member, namespace, member_param)
        # Anything else (hosted tools, future types) is accepted and not forwarded.

    if tool_choice == "none":
        upstream = []
    return upstream, tool_map
