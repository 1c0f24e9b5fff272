"""The gateway's OpenAPI 3.1 document, written by hand (the routes are plain Sanic handlers).

``build(modes)`` describes only what the server serves: ``/v1/chat/completions`` with the bypass
mode, ``/v1/responses`` and its stored-response routes with the emulator mode, ``/v1/models`` and
``/healthz`` always. Request schemas name the fields the gateway reads and their types; both modes
pass unknown fields on or ignore them, so every request object allows additional properties.
Every 4xx/5xx answer is the OpenAI error object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxy.api import __version__

JSON = "application/json"
SSE = "text/event-stream"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema_type: str | list[str], **extra: Any) -> dict[str, Any]:
    types = [schema_type] if isinstance(schema_type, str) else list(schema_type)
    return {"type": [*types, "null"], **extra}


ERROR_RESPONSES: dict[str, Any] = {
    "4XX": {"$ref": "#/components/responses/Error"},
    "5XX": {"$ref": "#/components/responses/Error"},
}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A gateway API key (sk-...), created on the dashboard or with `llmgate api-key create`. "
            "A key has one mode: bypass keys serve /v1/chat/completions, emulator keys /v1/responses.",
        }
    },
    "responses": {
        "Error": {
            "description": "Every rejection or failure, in the OpenAI error shape.",
            "content": {JSON: {"schema": _ref("Error")}},
        }
    },
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "code", "param"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "code": _nullable("string"),
                        "param": _nullable("string"),
                    },
                    "additionalProperties": True,  # e.g. resets_at on usage_limit_reached
                }
            },
        },
        "ChatMessage": {
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
                "content": {"type": ["string", "array", "null"]},
                "name": {"type": "string"},
                "tool_calls": {"type": "array", "items": {"type": "object"}},
                "tool_call_id": {"type": "string"},
            },
            "additionalProperties": True,
        },
        "ChatCompletionRequest": {
            "type": "object",
            "required": ["messages"],
            "properties": {
                "model": {"type": "string", "description": "Optional: the user's chosen model when absent."},
                "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
                "stream": {"type": "boolean"},
                "stream_options": _nullable("object"),
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": ["string", "object"]},
                "temperature": _nullable("number"),
                "top_p": _nullable("number"),
                "max_tokens": _nullable("integer"),
                "max_completion_tokens": _nullable("integer"),
                "stop": {"type": ["string", "array", "null"]},
                "seed": _nullable("integer"),
                "response_format": _nullable("object"),
            },
            "additionalProperties": True,
        },
        "ChatCompletionEvent": {
            "type": "object",
            "description": "One server-sent event: a chat.completion.chunk, an error object, or [DONE] last.",
            "required": ["data"],
            "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
        },
        "ChatCompletion": {
            "type": "object",
            "required": ["choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": _nullable("object"),
            },
        },
        "ResponsesRequest": {
            "type": "object",
            "description": "`input` is required unless `instructions` is given.",
            "properties": {
                "model": {"type": "string"},
                "input": {"type": ["string", "array"], "items": {"type": "object"}},
                "instructions": _nullable("string"),
                "stream": _nullable("boolean"),
                "store": _nullable("boolean"),
                "previous_response_id": _nullable("string"),
                "tools": _nullable("array", items={"type": "object"}),
                "tool_choice": {"type": ["string", "object", "null"]},
                "parallel_tool_calls": _nullable("boolean"),
                "reasoning": _nullable(
                    "object",
                    properties={"effort": _nullable("string"), "summary": _nullable("string")},
                ),
                "text": _nullable("object"),
                "max_output_tokens": _nullable("integer", minimum=1),
                "temperature": _nullable("number"),
                "top_p": _nullable("number"),
                "include": _nullable("array", items={"type": "string"}),
                "metadata": _nullable("object"),
                "truncation": {"type": ["string", "null"], "enum": ["auto", "disabled", None]},
                "prompt_cache_key": _nullable("string"),
                "user": _nullable("string"),
            },
            "additionalProperties": True,
        },
        "ResponseEvent": {
            "type": "object",
            "description": "One server-sent event; the last is response.completed, .failed, .incomplete or error.",
            "required": ["data"],
            "properties": {
                "event": {"type": "string"},
                "data": {
                    "type": "string",
                    "contentMediaType": JSON,
                    "contentSchema": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"type": "string"}, "sequence_number": {"type": "integer"}},
                    },
                },
            },
        },
        "Response": {
            "type": "object",
            "required": ["id", "object", "status", "output"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "response"},
                "status": {"type": "string"},
                "model": {"type": "string"},
                "output": {"type": "array", "items": {"type": "object"}},
                "usage": _nullable("object"),
                "error": _nullable("object"),
            },
        },
        "DeletedResponse": {
            "type": "object",
            "required": ["id", "object", "deleted"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "response"},
                "deleted": {"const": True},
            },
        },
        "Model": {
            "type": "object",
            "required": ["id", "object"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "model"},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}},
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "enum": ["ok", "starting"]}},
        },
    },
}


def _chat_paths() -> dict[str, Any]:
    return {
        "/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "summary": "Chat completions, passed through to Ollama (bypass keys)",
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("ChatCompletionRequest")}}},
                "responses": {
                    "200": {
                        "description": "A chat completion, or with stream: true server-sent events ending in [DONE]",
                        "content": {JSON: {"schema": _ref("ChatCompletion")}, SSE: {"schema": _ref("ChatCompletionEvent")}},
                    },
                    **ERROR_RESPONSES,
                },
            }
        }
    }


def _responses_paths() -> dict[str, Any]:
    response_id = {
        "name": "response_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    return {
        "/v1/responses": {
            "post": {
                "operationId": "createResponse",
                "summary": "The OpenAI Responses API over Ollama (emulator keys)",
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("ResponsesRequest")}}},
                "responses": {
                    "200": {
                        "description": "A Response, or with stream: true its server-sent events",
                        "content": {JSON: {"schema": _ref("Response")}, SSE: {"schema": _ref("ResponseEvent")}},
                    },
                    **ERROR_RESPONSES,
                },
            }
        },
        "/v1/responses/{response_id}": {
            "parameters": [response_id],
            "get": {
                "operationId": "getResponse",
                "summary": "A stored response (store: true) of the caller",
                "responses": {
                    "200": {"description": "The stored Response", "content": {JSON: {"schema": _ref("Response")}}},
                    **ERROR_RESPONSES,
                },
            },
            "delete": {
                "operationId": "deleteResponse",
                "summary": "Delete a stored response of the caller",
                "responses": {
                    "200": {"description": "Deleted", "content": {JSON: {"schema": _ref("DeletedResponse")}}},
                    **ERROR_RESPONSES,
                },
            },
        },
    }


def build(modes: Iterable[str]) -> dict[str, Any]:
    """The document for a server with these modes enabled."""
    modes = set(modes)
    paths: dict[str, Any] = {}
    if "bypass" in modes:
        paths.update(_chat_paths())
    if "emulator" in modes:
        paths.update(_responses_paths())
    paths["/v1/models"] = {
        "get": {
            "operationId": "listModels",
            "summary": "The models the caller's key may ask for",
            "responses": {
                "200": {"description": "Model list", "content": {JSON: {"schema": _ref("ModelList")}}},
                **ERROR_RESPONSES,
            },
        }
    }
    paths["/healthz"] = {
        "get": {
            "operationId": "health",
            "summary": "Liveness: 200 once the worker serves requests",
            "security": [],
            "responses": {
                "200": {"description": "Serving", "content": {JSON: {"schema": _ref("Health")}}},
                "503": {"description": "Still starting", "content": {JSON: {"schema": _ref("Health")}}},
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "llmgate",
            "version": __version__,
            "description": "A gateway between LLM API clients and Ollama. Only the enabled modes are described.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": COMPONENTS,
    }
