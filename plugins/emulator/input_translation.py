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
- `item_reference` (also the bare `{"id": ...}` form): replaced by the stored item it names (an output
  item of one of the user's stored responses, or an input item stored with one), translated in place
  exactly as if the client had sent it whole. The caller looks all references of a request up at once
  (`reference_ids`, then `references=`); an id not found (or another user's: the same error) is a 400.
- Tool calls the client ran itself (`local_shell_call`, `shell_call`, `apply_patch_call`, `computer_call`)
  and their outputs are history the model must see: they become calls of a tool named after the
  built-in (`local_shell`, `shell`, `apply_patch`, `computer`, arguments = the action or operation) and
  `tool` messages with the output.
- Items only a hosted tool or OpenAI's own state can produce (`IGNORED_ITEMS`) are skipped: the gateway
  never produced them and has nothing to give the model for them. Items that ask for something the
  gateway cannot do (`REFUSED_ITEMS`) and unknown types are a 400 naming the type.
- Images: data URLs go to `images` (base64 only). Ollama cannot fetch http(s) URLs or OpenAI file ids, so
  those become a short text note instead of failing the request.
- Files: an `input_file` whose `file_data` is UTF-8 text becomes text in the message, headed by its
  name; any other file (PDF, binary, `file_id`, `file_url`) and `input_audio` are a 400 naming the part:
  the model cannot read them, and dropping them would change the question.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from proxy.api import InvalidRequest

from .field_checks import invalid_value, missing, opt_str, req_dict, req_str, wrong_type
from .sealing import ThinkingSealer
from .tool_mapping import ToolMap

_ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})
# Produced only by tools OpenAI's servers run (or by its server-side state); the gateway offers no
# such tool upstream, so it never produced these, and they carry nothing the model can use here.
IGNORED_ITEMS = frozenset({
    "file_search_call", "web_search_call", "image_generation_call", "code_interpreter_call",
    "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call",
    "tool_search_call", "tool_search_output", "program", "program_output", "compaction", "compaction_trigger",
})  # fmt: skip
# Requests the gateway cannot honour mid-conversation: refusing beats answering as if they were heard.
REFUSED_ITEMS = {
    "additional_tools": "send the tools in the request's `tools` instead",
    "configuration_update": "set `reasoning` and `text` on the request instead",
}
# Built-in tools the client runs itself -> (tool name the model sees, field holding the call's arguments).
_CLIENT_TOOL_CALLS = {
    "local_shell_call": ("local_shell", "action"),
    "shell_call": ("shell", "action"),
    "apply_patch_call": ("apply_patch", "operation"),
    "computer_call": ("computer", "action"),
}
_CLIENT_TOOL_OUTPUTS = frozenset({"local_shell_call_output", "shell_call_output", "apply_patch_call_output",
                                  "computer_call_output"})  # fmt: skip
_TEXT_MIME_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml", "application/yaml",
                              "application/javascript", "application/x-sh", "application/toml"})  # fmt: skip


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


def _file_part(part: dict[str, Any], param: str) -> str:
    """An `input_file` part as text for the model; a 400 for anything that is not a text file."""
    filename = opt_str(part.get("filename"), f"{param}.filename")
    data = opt_str(part.get("file_data"), f"{param}.file_data")
    label = f"input_file '{filename}'" if filename else "input_file"
    if data is None:
        source = next((key for key in ("file_id", "file_url") if part.get(key) is not None), None)
        if source is None:
            missing(f"{param}.file_data")
        raise InvalidRequest(
            f"Invalid value for '{param}': an {label} given by {source} cannot be read: this gateway has "
            "no Files API and does not fetch URLs. Send the file's content as file_data.",
            param=param,
        )
    mime = ""
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        mime = header[5:].split(";", 1)[0].lower()
    text = None
    if not mime or mime.startswith("text/") or mime in _TEXT_MIME_TYPES or mime.endswith(("+json", "+xml")):
        try:
            raw = base64.b64decode(data, validate=True)
            text = raw.decode("utf-8") if b"\x00" not in raw else None
        except (binascii.Error, ValueError):  # ValueError: not base64 ASCII, or not UTF-8
            text = None
    if text is None:
        kind = f" ({mime})" if mime else ""
        raise InvalidRequest(
            f"Invalid value for '{param}': the {label}{kind} is not UTF-8 text (base64). The upstream "
            "models read text and images only: send text files as base64 file_data, images as input_image.",
            param=param,
        )
    return f"[file {filename}]\n{text}" if filename else text


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
        kind = req_str(part.get("type"), f"{part_param}.type")
        if kind in _TEXT_PARTS:
            texts.append(req_str(part.get("text"), f"{part_param}.text"))
        elif kind == "refusal":
            texts.append(req_str(part.get("refusal"), f"{part_param}.refusal"))
        elif kind in ("input_image", "computer_screenshot"):
            _image_part(part, part_param, texts, images)
        elif kind == "input_file":
            texts.append(_file_part(part, part_param))
        elif kind == "input_audio":
            invalid_value(f"{part_param}.type", "content parts of type 'input_audio' are not supported: the "
                          "upstream models take no audio.")  # fmt: skip
        else:
            invalid_value(f"{part_param}.type", f"unknown content part type '{kind}'.")
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


def _shell_output_text(output: Any, param: str) -> str:
    """A `shell_call_output`'s chunks (stdout, stderr, how the command ended) as one text."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        wrong_type(param, "an array", output)
    texts: list[str] = []
    for j, chunk in enumerate(output):
        chunk = req_dict(chunk, f"{param}[{j}]")
        stdout = opt_str(chunk.get("stdout"), f"{param}[{j}].stdout")
        stderr = opt_str(chunk.get("stderr"), f"{param}[{j}].stderr")
        if stdout:
            texts.append(stdout)
        if stderr:
            texts.append(f"stderr:\n{stderr}")
        outcome = chunk.get("outcome")
        if isinstance(outcome, dict) and outcome.get("type") == "exit":
            texts.append(f"exit code: {outcome.get('exit_code')}")
        elif isinstance(outcome, dict) and outcome.get("type") == "timeout":
            texts.append("timed out")
    return "\n".join(texts)


def _client_tool_call(builder: _ChatBuilder, kind: str, item: dict[str, Any], param: str) -> None:
    name, field = _CLIENT_TOOL_CALLS[kind]
    call_id = req_str(item.get("call_id"), f"{param}.call_id")
    value = item.get(field)
    if value is None and kind == "computer_call":
        value = {"actions": item.get("actions") or []}
    arguments = value if isinstance(value, dict) else {field: value}
    builder.tool_call(call_id, name, arguments)


def _client_tool_output(builder: _ChatBuilder, kind: str, item: dict[str, Any], param: str) -> None:
    if kind == "local_shell_call_output":  # its `id` is the call's id
        call_id = req_str(item.get("call_id") or item.get("id"), f"{param}.id")
        text, images = opt_str(item.get("output"), f"{param}.output") or "", []
    elif kind == "shell_call_output":
        call_id = req_str(item.get("call_id"), f"{param}.call_id")
        text, images = _shell_output_text(item.get("output"), f"{param}.output"), []
    elif kind == "apply_patch_call_output":
        call_id = req_str(item.get("call_id"), f"{param}.call_id")
        status = opt_str(item.get("status"), f"{param}.status") or "completed"
        text, images = opt_str(item.get("output"), f"{param}.output") or status, []
    else:  # computer_call_output: a screenshot
        call_id = req_str(item.get("call_id"), f"{param}.call_id")
        text, images = content_text([req_dict(item.get("output"), f"{param}.output")], f"{param}.output")
    builder.tool_result(call_id, text, images)


def _is_reference(item: dict[str, Any]) -> bool:
    kind = item.get("type")
    return kind == "item_reference" or (kind is None and "role" not in item and "id" in item)


def reference_ids(input_value: Any) -> list[str]:
    """The ids the `item_reference` items of a request's `input` name (to look up in one query)."""
    if not isinstance(input_value, list):
        return []
    return [
        item["id"]
        for item in input_value
        if isinstance(item, dict) and _is_reference(item) and isinstance(item.get("id"), str)
    ]


def _referenced(item: dict[str, Any], param: str, references: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    item_id = req_str(item.get("id"), f"{param}.id")
    found = references.get(item_id)
    if found is None or _is_reference(found):
        # The same words whether the id never existed, expired or is another user's.
        raise InvalidRequest(
            f"Item with id '{item_id}' not found. Items can be referenced only when their response was "
            "stored (store: true), only by their owner, and only until they expire.",
            param=param,
        )
    return found


def _add_item(
    builder: _ChatBuilder,
    item: dict[str, Any],
    param: str,
    sealer: ThinkingSealer,
    references: Mapping[str, dict[str, Any]],
) -> None:
    if _is_reference(item):
        item = _referenced(item, param, references)
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
    elif kind in _CLIENT_TOOL_CALLS:
        _client_tool_call(builder, kind, item, param)
    elif kind in _CLIENT_TOOL_OUTPUTS:
        _client_tool_output(builder, kind, item, param)
    elif kind in IGNORED_ITEMS:
        return
    elif kind in REFUSED_ITEMS:
        reason = REFUSED_ITEMS[kind]
        invalid_value(f"{param}.type", f"input items of type '{kind}' are not supported: {reason}.")
    elif kind is None:
        missing(f"{param}.type")
    elif not isinstance(kind, str):
        wrong_type(f"{param}.type", "a string", kind)
    else:
        invalid_value(f"{param}.type", f"unknown input item type '{kind}'.")


def translate_input(
    instructions: str | None,
    input_value: Any,
    *,
    tool_map: ToolMap,
    sealer: ThinkingSealer,
    references: Mapping[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """`instructions` + `input` (a string or a list of items) -> Ollama messages.

    ``references``: the stored items the input's `item_reference` items name, by id (see
    `reference_ids`); a reference missing from it is a 400."""
    builder = _ChatBuilder(tool_map)
    if instructions:
        builder.system(instructions, [])
    if isinstance(input_value, str):
        builder.user(input_value, [])
    elif isinstance(input_value, list):
        for i, item in enumerate(input_value):
            _add_item(builder, req_dict(item, f"input[{i}]"), f"input[{i}]", sealer, references or {})
    elif input_value is not None:
        wrong_type("input", "a string or an array of input items", input_value)
    return builder.messages
