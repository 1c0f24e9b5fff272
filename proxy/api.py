"""The plugin API: everything a plugin may import from llmgate's core, and nothing else.

This module is the contract between the core and every plugin, built-in or third-party (the
dashboard included). What ``__all__`` lists here is stable: it follows semantic versioning, so a
name is removed or changes meaning only in a new major version. Every other module in ``proxy/``
is the core's own business and may change in any release; the built-in plugins import only from
here, and an import-linter contract (``pyproject.toml``) fails CI when a plugin reaches past it.

The hooks themselves are specified in ``proxy.hookspecs`` and documented, with an example each,
in ``docs/plugins.md``.
"""

from __future__ import annotations

from proxy import __version__
from proxy.accounts import (
    AccountError,
    check_new_account,
    check_password,
    check_username,
    create_api_key,
    create_user,
    get_user,
    key_label,
    revoke_api_key,
    set_selected_model,
    user_settings,
)
from proxy.audit import AccountEvent
from proxy.audit import record as record_account_event
from proxy.auth_events import announce as announce_auth_change
from proxy.auth_events import listen as listen_auth_changes
from proxy.cli_support import CLIError, cli_settings, print_table, record_action, with_database
from proxy.context import (
    ClientResponse,
    Endpoint,
    ModeSpec,
    Principal,
    RequestContext,
    Route,
    Upstream,
    UpstreamFailure,
    UpstreamRequest,
    Usage,
)
from proxy.errors import (
    APIError,
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    UpstreamError,
)
from proxy.failures import (
    CONTEXT_LENGTH_EXCEEDED,
    RATE_LIMIT_EXCEEDED,
    SERVER_IS_OVERLOADED,
    USAGE_LIMIT_REACHED,
    FailureVerdict,
    UpstreamFailed,
    code_for_error,
    code_for_text,
    error_for_code,
    failure_to_error,
)
from proxy.hookspecs import hookimpl
from proxy.logtext import log_block, log_value
from proxy.metrics_dir import MULTIPROC_ENV
from proxy.model_choice import chosen_model
from proxy.scrub import REDACTED, scrub_secrets
from proxy.security import (
    SecretBox,
    derive_key,
    hash_api_key,
    hash_password,
    hash_password_off_loop,
    in_password_pool,
    mask_secret,
    verify_password,
    verify_password_off_loop,
)
from proxy.state import AppState
from proxy.storage.database import ModelApp, PluginModels, make_migrations
from proxy.storage.models import ApiKey, UsageRecord, User, UserSettings
from proxy.streams import HEARTBEAT, Provisional, iter_line_batches, sse_data, with_heartbeats
from proxy.upstream import error_message, fetch_json

__all__ = [  # noqa: RUF022 (grouped by topic, sorted within each group)
    # version of the gateway
    "__version__",
    # hooks
    "hookimpl",
    # what travels through the chain
    "ClientResponse",
    "Endpoint",
    "ModeSpec",
    "Principal",
    "RequestContext",
    "Route",
    "Upstream",
    "UpstreamFailure",
    "UpstreamRequest",
    "Usage",
    "AppState",
    # errors clients see (OpenAI error shape)
    "APIError",
    "AuthenticationFailed",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "UpstreamError",
    # upstream failures and the core's error table
    "CONTEXT_LENGTH_EXCEEDED",
    "RATE_LIMIT_EXCEEDED",
    "SERVER_IS_OVERLOADED",
    "USAGE_LIMIT_REACHED",
    "FailureVerdict",
    "UpstreamFailed",
    "code_for_error",
    "code_for_text",
    "error_for_code",
    "failure_to_error",
    # streams
    "HEARTBEAT",
    "Provisional",
    "iter_line_batches",
    "sse_data",
    "with_heartbeats",
    # upstream helpers
    "chosen_model",
    "error_message",
    "fetch_json",
    # tables
    "PluginModels",
    "ModelApp",
    "make_migrations",
    "ApiKey",
    "UsageRecord",
    "User",
    "UserSettings",
    # accounts
    "AccountError",
    "check_new_account",
    "check_password",
    "check_username",
    "create_api_key",
    "create_user",
    "get_user",
    "key_label",
    "revoke_api_key",
    "set_selected_model",
    "user_settings",
    "announce_auth_change",
    "listen_auth_changes",
    # the audit log: account actions, announced to the plugins that record them
    "AccountEvent",
    "record_account_event",
    # secrets and logs
    "REDACTED",
    "SecretBox",
    "derive_key",
    "hash_api_key",
    "hash_password",
    "hash_password_off_loop",
    "in_password_pool",
    "mask_secret",
    "verify_password",
    "verify_password_off_loop",
    "scrub_secrets",
    "log_block",
    "log_value",
    # command line
    "CLIError",
    "cli_settings",
    "print_table",
    "record_action",
    "with_database",
    # metrics shared by an instance's workers
    "MULTIPROC_ENV",
]
