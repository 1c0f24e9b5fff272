"""Settings: the commented defaults in ``llmgate.toml``, an operator's file, then ``LLMGATE_*``.

Later sources win key by key. Settings are an immutable value built once per process and passed
around explicitly (to the app factory, to plugins through the request context), so a test builds
an app from any settings it likes without touching globals.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULTS_PATH = Path(__file__).with_name("llmgate.toml")
# HKDF stretches nothing: a short secret is a guessable key for the Ollama keys at rest.
MIN_SECRET_BYTES = 32

# Environment variable -> (section path, key). Names are part of the operator interface: keep them.
ENV_KEYS: dict[str, tuple[str, str]] = {
    "LLMGATE_HOST": ("server", "host"),
    "LLMGATE_PORT": ("server", "port"),
    "LLMGATE_WORKERS": ("server", "workers"),
    "LLMGATE_MAX_BODY_BYTES": ("server", "max_body_bytes"),
    "LLMGATE_GRACEFUL_SHUTDOWN_SECONDS": ("server", "graceful_shutdown_seconds"),
    "LLMGATE_REQUEST_TIMEOUT": ("server", "request_timeout"),
    "LLMGATE_PUBLIC_URL": ("server", "public_url"),
    "LLMGATE_ACCESS_LOG": ("server", "access_log"),
    "LLMGATE_PROXIES_COUNT": ("server", "proxies_count"),
    "LLMGATE_REAL_IP_HEADER": ("server", "real_ip_header"),
    "LLMGATE_FORWARDED_SECRET": ("server", "forwarded_secret"),
    "LLMGATE_MAX_CONNECTIONS_PER_IP": ("server", "max_connections_per_ip"),
    "LLMGATE_LISTEN_BACKLOG": ("server", "listen_backlog"),
    "LLMGATE_DATA_DIR": ("storage", "data_dir"),
    "LLMGATE_DATABASE_URL": ("storage", "database_url"),
    "LLMGATE_SECRET_KEY": ("security", "secret_key"),
    "LLMGATE_AUTH_CACHE_SECONDS": ("security", "auth_cache_seconds"),
    "LLMGATE_UPSTREAM_URL": ("upstream", "url"),
    "LLMGATE_UPSTREAM_API_KEY": ("upstream", "api_key"),
    "LLMGATE_DEFAULT_MODEL": ("upstream", "default_model"),
    "LLMGATE_OLLAMA_CLOUD_URL": ("upstream", "ollama_cloud_url"),
    "LLMGATE_UPSTREAM_CONNECT_TIMEOUT": ("upstream", "connect_timeout"),
    "LLMGATE_UPSTREAM_READ_TIMEOUT": ("upstream", "read_timeout"),
    "LLMGATE_UPSTREAM_MAX_CONNECTIONS": ("upstream", "max_connections"),
    "LLMGATE_UPSTREAM_ENGINE": ("upstream", "engine"),
    "LLMGATE_UPSTREAM_NUM_CTX": ("upstream", "num_ctx"),
    "LLMGATE_MODELS_CACHE_SECONDS": ("upstream", "models_cache_seconds"),
    "LLMGATE_PLUGINS_DISABLED": ("plugins", "disabled"),
    "LLMGATE_REGISTRATION": ("plugins.dashboard", "registration"),
    "LLMGATE_REGISTRATION_OPEN": ("plugins.dashboard", "registration_open"),  # older name: false = "closed"
    "LLMGATE_BYPASS_KEEPALIVE_SECONDS": ("plugins.bypass", "keepalive_seconds"),
    "LLMGATE_TRACE_PLUGINS": ("plugins", "trace"),
    "LLMGATE_METRICS_TOKEN": ("plugins.metrics", "token"),
    "LLMGATE_REDIS_URL": ("redis", "url"),
    "LLMGATE_REQUESTS_PER_MINUTE_PER_KEY": ("plugins.rate_limits", "requests_per_minute_per_key"),
    "LLMGATE_REQUESTS_PER_MINUTE_PER_USER": ("plugins.rate_limits", "requests_per_minute_per_user"),
    "LLMGATE_CONCURRENT_STREAMS_PER_KEY": ("plugins.rate_limits", "concurrent_streams_per_key"),
    "LLMGATE_CONCURRENT_STREAMS_PER_USER": ("plugins.rate_limits", "concurrent_streams_per_user"),
    "LLMGATE_DAILY_TOKENS": ("plugins.quotas", "daily_tokens"),
    "LLMGATE_MONTHLY_TOKENS": ("plugins.quotas", "monthly_tokens"),
    "LLMGATE_STORE_MAX_BYTES_PER_USER": ("plugins.emulator", "store_max_bytes_per_user"),
}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    workers: int
    max_body_bytes: int
    graceful_shutdown_seconds: float
    public_url: str
    access_log: bool
    data_dir: Path
    database_url: str
    secret_key: str
    auth_cache_seconds: float
    upstream_url: str
    upstream_api_key: str
    default_model: str
    ollama_cloud_url: str
    upstream_connect_timeout: float
    upstream_read_timeout: float
    upstream_max_connections: int
    upstream_engine: str
    models_cache_seconds: float
    disabled_plugins: tuple[str, ...]
    plugin_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    request_timeout: float = 60.0
    # The context window (tokens) asked of the shared upstream on every native chat; 0: its own default.
    upstream_num_ctx: int = 0
    # Behind trusted reverse proxies: where the client's address is read from (Sanic's settings
    # of the same names). Neither set: forwarding headers are ignored.
    proxies_count: int = 0
    real_ip_header: str = ""
    forwarded_secret: str = ""
    max_connections_per_ip: int = 256
    # Connections the kernel queues before the worker accepts them; beyond it a burst is reset.
    listen_backlog: int = 4096
    trace_plugins: bool = False
    # Shared state for every worker and instance (limits, revocations); empty: none.
    redis_url: str = ""

    def plugin(self, name: str) -> Mapping[str, Any]:
        """The ``[plugins.<name>]`` table (empty when absent)."""
        return self.plugin_settings.get(name, {})

    @property
    def secret_bytes(self) -> bytes:
        return self.secret_key.encode()


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(raw: str, like: Any, name: str) -> Any:
    """Parse an environment string into the type of the default it replaces."""
    try:
        if isinstance(like, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
        if isinstance(like, list):
            return [part.strip() for part in raw.split(",") if part.strip()]
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {type(like).__name__}") from None
    return raw


def _section(tree: dict[str, Any], path: str) -> dict[str, Any]:
    node = tree
    for part in path.split("."):
        node = node.setdefault(part, {})
    return node


def load_raw(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    env = os.environ if env is None else env
    tree = tomllib.loads(DEFAULTS_PATH.read_text())
    config_file = config_file or env.get("LLMGATE_CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        try:
            tree = _merge(tree, tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    for name, (section_path, key) in ENV_KEYS.items():
        if name in env:
            section = _section(tree, section_path)
            section[key] = _coerce(env[name], section.get(key, ""), name)
    if overrides:
        tree = _merge(tree, overrides)
    return tree


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    ensure_secret: bool = True,
) -> Settings:
    """Build settings; ``overrides`` is a nested dict shaped like the TOML file (tests use it)."""
    tree = load_raw(config_file, env, overrides)
    server, storage, security = tree["server"], tree["storage"], tree["security"]
    upstream, plugins = tree["upstream"], tree["plugins"]
    data_dir = Path(storage["data_dir"])
    database_url = storage["database_url"] or f"sqlite://{data_dir / 'llmgate.sqlite3'}"
    secret_key = security["secret_key"] or (_stored_secret(data_dir) if ensure_secret else "")
    if secret_key and len(secret_key.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"security.secret_key (LLMGATE_SECRET_KEY) is {len(secret_key.encode())} bytes long; it must be at "
            f"least {MIN_SECRET_BYTES}. Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    proxies_count = int(server.get("proxies_count", 0) or 0)
    if proxies_count < 0:
        raise SettingsError("server.proxies_count must be 0 (no proxy) or the number of proxies in front")
    max_connections_per_ip = int(server.get("max_connections_per_ip", 256))
    if max_connections_per_ip < 0:
        raise SettingsError("server.max_connections_per_ip must be 0 (no cap) or more")
    listen_backlog = int(server.get("listen_backlog", 4096))
    if listen_backlog < 1:
        raise SettingsError("server.listen_backlog must be at least 1")
    engine = upstream["engine"]
    if engine not in ("aiohttp", "httpx"):
        raise SettingsError(f"upstream.engine must be 'aiohttp' or 'httpx', not {engine!r}")
    num_ctx = upstream.get("num_ctx", 0)
    if isinstance(num_ctx, bool) or not isinstance(num_ctx, int) or num_ctx < 0:
        raise SettingsError(f"upstream.num_ctx must be a whole number of tokens (0: unset), not {num_ctx!r}")
    disabled = plugins.get("disabled", [])
    if not isinstance(disabled, list):
        raise SettingsError("plugins.disabled must be a list of plugin names")
    return Settings(
        host=str(server["host"]),
        port=int(server["port"]),
        workers=int(server["workers"]),
        max_body_bytes=int(server["max_body_bytes"]),
        graceful_shutdown_seconds=float(server["graceful_shutdown_seconds"]),
        public_url=str(server["public_url"]).rstrip("/"),
        access_log=bool(server["access_log"]),
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secret_key,
        auth_cache_seconds=float(security["auth_cache_seconds"]),
        upstream_url=str(upstream["url"]).rstrip("/"),
        upstream_api_key=str(upstream["api_key"]),
        default_model=str(upstream["default_model"]),
        ollama_cloud_url=str(upstream["ollama_cloud_url"]).rstrip("/"),
        upstream_connect_timeout=float(upstream["connect_timeout"]),
        upstream_read_timeout=float(upstream["read_timeout"]),
        upstream_max_connections=int(upstream["max_connections"]),
        upstream_engine=engine,
        models_cache_seconds=float(upstream["models_cache_seconds"]),
        disabled_plugins=tuple(str(name) for name in disabled),
        plugin_settings={k: v for k, v in plugins.items() if isinstance(v, dict)},
        request_timeout=float(server.get("request_timeout", 60.0)),
        upstream_num_ctx=num_ctx,
        proxies_count=proxies_count,
        real_ip_header=str(server.get("real_ip_header", "") or "").strip(),
        forwarded_secret=str(server.get("forwarded_secret", "") or ""),
        max_connections_per_ip=max_connections_per_ip,
        listen_backlog=listen_backlog,
        trace_plugins=bool(plugins.get("trace", False)),
        redis_url=_redis_url(tree.get("redis", {}).get("url", "")),
    )


def _stored_secret(data_dir: Path) -> str:
    """The generated secret under the data dir, created on first use with mode 0600."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two workers starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def _redis_url(raw: Any) -> str:
    url = str(raw or "").strip()
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"redis.url (LLMGATE_REDIS_URL) must start with redis://, rediss:// or unix://, not {url.split(':', 1)[0]}:")
    return url
