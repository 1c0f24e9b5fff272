"""Responses API `input` items -> Ollama `/api/chat` messages.

Shapes upstream (Ollama native chat):
    {"role": "system" | "user" | "assistant" | "tool", "content": str, "images": [b64...],
     "thinking": str, "tool_calls": [{"id", "function": {"index", "name", "arguments": {...}}}],
     "tool_name": str, "tool_call_id": str}

Decisions:
- `developer` and `system` roles -> `system`; adjacent system messages are joined (blank line between),
  because several chat templates render only one system block.
- Consecutive `function_call` / `custom_tool_call` items, and the assistant text right before them, form ONE
  assistant message: that is how the model produced them (parallel calls in one turn).
- `function_call.arguments` is a JSON string (or already an object). Upstream needs an object, so an empty
  string becomes `{}`, and text that is not a JSON object is wrapped as `{"input": <raw text or value>}` so
  the model still sees what it sent.
- A custom tool call's free-form `input` becomes arguments `{"input": <raw text>}`, matching the function
  the custom tool is exposed as (see tool_mapping).
- `reasoning` items: thinking sealed by us (`encrypted_content`) is opened and given back to the model as
  `thinking` on the next assistant message. Tokens we cannot open (tampered, foreign, other secret) are
  ignored silently; without `encrypted_content`, the item's `content` (raw reasoning) or else its summary
  is used. Thinking not followed by an assistant turn is dropped.
- Images: data URLs go to `images` (base64 only). Ollama cannot fetch http(s) URLs or OpenAI file ids, so
  those become a short text note instead of failing the request. `input_file` parts are ignored.
"""

from __future__ import annotations

from typing import Any

import orjson

from .field_checks import invalid_value, opt_str, req_dict, req_str, wrong_type
from .sealing import ThinkingSealer
from .tool_mapping import ToolMap

_ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    """A function_call's `arguments` as the object Ollama expects (see module notes)."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        wrong_type(param, "a string", raw)
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"input": raw}
    return value if isinstance(value, dict) else {"input": value}


def _image_part(part: dict[str, Any], param: str, texts: list[str], images: list[str]) -> None:
    url = part.get("image_url")
    if isinstance(url, dict):  # tolerate the Chat Completions shape {"url": ...}
        url = url.get("url")
    url = opt_str(url, f"{param}.image_url")
    if url is None:
        file_id = part.get("file_id")
        if isinstance(file_id, str):
            texts.append(f"[image {file_id} not available]")
        return
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        if header.endswith(";base64") and data:
            images.append(data)
            return
        texts.append("[image not available: unsupported data URL]")
        return
    texts.append(f"[image not available: {url}]")


def content_text(content: Any, param: str) -> tuple[str, list[str]]:
    """Message or tool-output content (string or parts) -> (text, base64 images)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        wrong_type(param, "a string or an array of content parts", content)
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        part_param = f"{param}[{j}]"
        if not isinstance(part, dict):
            wrong_type(part_param, "an object", part)
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            texts.append(req_str(part.get("text"), f"{part_param}.text"))
        elif kind == "refusal":
            texts.append(req_str(part.get("refusal"), f"{part_param}.refusal"))
        elif kind == "input_image":
            _image_part(part, part_param, texts, images)
        # input_file, input_audio and unknown parts carry nothing the upstream can use.
    return "\n".join(texts), images


def _reasoning_text(item: dict[str, Any], sealer: ThinkingSealer) -> str | None:
    """The thinking a replayed reasoning item carries, or None to ignore the item."""
    sealed = item.get("encrypted_content")
    if isinstance(sealed, str) and sealed:
        return sealer.unseal(sealed)
    for key in ("content", "summary"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
            text = "\n\n".join(t for t in texts if t)
            if text:
                return text
    return None


class _ChatBuilder:
    """Accumulates upstream messages, merging tool calls and replayed thinking into assistant turns."""

    def __init__(self, tool_map: ToolMap) -> None:
        self.tool_map = tool_map
        self.messages: list[dict[str, Any]] = []
        self._assistant: dict[str, Any] | None = None  # the assistant turn still open for merging
        self._thinking: list[str] = []  # replayed thinking waiting for its assistant turn
        self._call_names: dict[str, str] = {}  # call_id -> upstream tool name

    def _close_turn(self) -> None:
        self._assistant = None
        self._thinking.clear()

    def _take_thinking(self, message: dict[str, Any]) -> None:
        if not self._thinking:
            return
        text = "\n\n".join(self._thinking)
        self._thinking.clear()
        previous = message.get("thinking")
        message["thinking"] = f"{previous}\n\n{text}" if previous else text

    def system(self, text: str, images: list[str]) -> None:
        self._close_turn()
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "system" and not images and "images" not in last:
            last["content"] = f"{last['content']}\n\n{text}" if last["content"] else text
            return
        self._append("system", text, images)

    def user(self, text: str, images: list[str]) -> None:
        self._close_turn()
        self._append("user", text, images)

    def assistant(self, text: str, images: list[str]) -> None:
        message = self._append("assistant", text, images)
        self._take_thinking(message)
        self._assistant = message

    def thinking(self, text: str) -> None:
        self._thinking.append(text)

    def tool_call(self, call_id: str, upstream_name: str, arguments: dict[str, Any]) -> None:
        message = self._assistant
        if message is None:
            message = self._append("assistant", "", [])
            self._assistant = message
        self._take_thinking(message)
        calls = message.setdefault("tool_calls", [])
        calls.append(
            {"id": call_id, "function": {"index": len(calls), "name": upstream_name, "arguments": arguments}}
        )
        self._call_names[call_id] = upstream_name

    def tool_result(self, call_id: str, text: str, images: list[str]) -> None:
        self._close_turn()
        message = self._append("tool", text, images)
        name = self._call_names.get(call_id)
        if name is not None:
            message["tool_name"] = name
        message["tool_call_id"] = call_id

    def _append(self, role: str, text: str, images: list[str]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": role, "content": text}
        if images:
            message["images"] = images
        self.messages.append(message)
        return message


def _add_item(builder: _ChatBuilder, item: dict[str, Any], param: str, sealer: ThinkingSealer) -> None:
    kind = item.get("type")
    if kind is None and "role" in item:
        kind = "message"
    if kind == "message":
        role = req_str(item.get("role"), f"{param}.role")
        upstream_role = _ROLES.get(role)
        if upstream_role is None:
            invalid_value(
                f"{param}.role", f"expected one of 'user', 'assistant', 'system', 'developer', got '{role}'."
            )
        text, images = content_text(item.get("content"), f"{param}.content")
        getattr(builder, upstream_role)(text, images)
    elif kind == "function_call":
        name = req_str(item.get("name"), f"{param}.name")
        namespace = opt_str(item.get("namespace"), f"{param}.namespace")
        call_id = req_str(item.get("call_id"), f"{param}.call_id")
        arguments = parse_arguments(item.get("arguments"), f"{param}.arguments")
        builder.tool_call(call_id, builder.tool_map.upstream_name(name, namespace), arguments)
    elif kind == "custom_tool_call":
        name = req_str(item.get("name"), f"{param}.name")
        namespace = opt_str(item.get("namespace"), f"{param}.namespace")
        call_id = req_str(item.get("call_id"), f"{param}.call_id")
        raw_input = opt_str(item.get("input"), f"{param}.input") or ""
        builder.tool_call(call_id, builder.tool_map.upstream_name(name, namespace), {"input": raw_input})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        call_id = req_str(item.get("call_id"), f"{param}.call_id")
        text, images = content_text(item.get("output"), f"{param}.output")
        builder.tool_result(call_id, text, images)
    elif kind == "reasoning":
        thinking = _reasoning_text(item, sealer)
        if thinking:
            builder.thinking(thinking)
    # Other item types (item_reference, hosted tool calls, compaction, future types) are ignored.


def translate_input(
    instructions: str | None, input_value: Any, *, tool_map: ToolMap, sealer: ThinkingSealer
) -> list[dict[str, Any]]:
    """`instructions` + `input` (a string or a list of items) -> Ollama messages."""
    builder = _ChatBuilder(tool_map)
    if instructions:
        builder.system(instructions, [])
    if isinstance(input_value, str):
        builder.user(input_value, [])
    elif isinstance(input_value, list):
        for i, item in enumerate(input_value):
            _add_item(builder, req_dict(item, f"input[{i}]"), f"input[{i}]", sealer)
    elif input_value is not None:
        wrong_type("input", "a string or an array of input items", input_value)
    return builder.messages
