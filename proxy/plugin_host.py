"""Finding, switching off and registering plugins.

Built-in features are ordinary plugins listed in ``DEFAULT_PLUGINS``; installed ones come from the
entry-point group ``llmgate.plugins``. A plugin reference is ``module`` or ``module:attribute``;
a class is instantiated with no arguments. Plugins are disabled by name before they are imported,
so a broken plugin can be switched off; essential ones refuse.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy

from config.settings import Settings, SettingsError
from proxy import __version__, hookspecs
from proxy.context import ModeSpec
from proxy.runner import HookRunner
from proxy.storage.database import ModelApp, PluginModels

ENTRY_POINT_GROUP = "llmgate.plugins"

# Order matters only among plugins of equal priority: later ones are called first (pluggy).
DEFAULT_PLUGINS: dict[str, str] = {
    "api_key_auth": "plugins.api_key_auth",
    "key_mode": "plugins.key_mode",
    "shared_upstream": "plugins.shared_upstream",
    "upstream_models": "plugins.upstream_models",
    "usage_recorder": "plugins.usage_recorder",
    "metrics": "plugins.metrics",
    "rate_limits": "plugins.rate_limits",
    "quotas": "plugins.quotas",
    "bypass": "plugins.bypass:BypassMode",
    "ollama_keys": "plugins.ollama_keys.plugin",
    "dashboard": "dashboard",
    "emulator": "plugins.emulator:EmulatorMode",
    "openapi": "plugins.openapi",
}

# Without these the gateway cannot serve a request safely.
ESSENTIAL_PLUGINS = frozenset({"api_key_auth", "key_mode", "shared_upstream"})


@dataclass
class PluginInfo:
    name: str
    reference: str
    source: str  # "built-in" or the distribution that provides the entry point
    version: str
    enabled: bool
    essential: bool
    hooks: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()  # filled by ``proxy.cli`` when it builds the command line
    tables: tuple[str, ...] = ()


def _load(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    if attribute:
        obj = getattr(obj, attribute)
    return obj() if inspect.isclass(obj) else obj


def check_disabled(settings: Settings) -> None:
    refused = sorted(ESSENTIAL_PLUGINS.intersection(settings.disabled_plugins))
    if refused:
        raise SettingsError(
            f"plugin {', '.join(refused)} is essential and cannot be disabled "
            "(remove it from [plugins] disabled)"
        )


def discover(settings: Settings) -> list[tuple[PluginInfo, Any]]:
    """Every known plugin with its loaded object (None when disabled)."""
    check_disabled(settings)
    disabled = set(settings.disabled_plugins)
    found: list[tuple[PluginInfo, Any]] = []
    for name, reference in DEFAULT_PLUGINS.items():
        enabled = name not in disabled
        info = PluginInfo(name, reference, "built-in", __version__, enabled, name in ESSENTIAL_PLUGINS)
        found.append((info, _load(reference) if enabled else None))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in DEFAULT_PLUGINS:
            continue  # a built-in's name cannot be taken over by an installed package
        dist = ep.dist
        enabled = ep.name not in disabled
        info = PluginInfo(
            ep.name,
            ep.value,
            dist.name if dist else "unknown",
            dist.version if dist else "unknown",
            enabled,
            False,
        )
        obj = ep.load() if enabled else None
        found.append((info, obj() if inspect.isclass(obj) else obj))
    return found


def build_runner(settings: Settings, extra_plugins: dict[str, Any] | None = None) -> tuple[HookRunner, list[PluginInfo]]:
    """A plugin manager with every enabled plugin registered, and a runner over it.

    ``extra_plugins`` registers more plugins by name (tests use it instead of an entry point).
    """
    pm = pluggy.PluginManager("llmgate")
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    plugins = discover(settings)
    for name, obj in (extra_plugins or {}).items():
        enabled = name not in settings.disabled_plugins
        plugins.append((PluginInfo(name, repr(obj), "registered", "-", enabled, False), obj if enabled else None))
    for info, obj in plugins:
        if obj is not None:
            pm.register(obj, name=info.name)
            info.hooks = tuple(sorted(impl.name for impl in pm.get_hookcallers(obj) or ()))
        infos.append(info)
    runner = HookRunner(pm, trace=settings.trace_plugins)
    runner.set_modes(collect_modes(runner))
    return runner, infos


def collect_modes(runner: HookRunner) -> dict[str, ModeSpec]:
    modes: dict[str, ModeSpec] = {}
    for plugin, specs in runner.call_sync("register_modes"):
        for spec in specs or ():
            if spec.name in modes:
                raise SettingsError(f"mode {spec.name!r} is registered by two plugins")
            if spec.plugin is None:
                spec = dataclasses.replace(spec, plugin=plugin)
            modes[spec.name] = spec
    return modes


def model_apps(runner: HookRunner) -> list[ModelApp]:
    """The enabled plugins' own tables (``register_models``), one Tortoise app per plugin."""
    apps: list[ModelApp] = []
    for impl in runner.plan("register_models", scoped=False).impls:
        declared = impl.function()
        if declared is None:
            continue
        if not isinstance(declared, PluginModels):
            raise SettingsError(f"plugin {impl.plugin}: register_models must return PluginModels, not {declared!r}")
        apps.append(ModelApp(impl.plugin, tuple(declared.modules), Path(declared.migrations)))
    return apps


def app_tables(app: ModelApp) -> tuple[str, ...]:
    """The table names of ``app``'s models (imports its modules; no database needed)."""
    from tortoise.models import Model

    tables: list[str] = []
    for module_name in app.modules:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if (
                inspect.isclass(value) and issubclass(value, Model) and value is not Model
                and value.__module__ == module_name and not getattr(value.Meta, "abstract", False)
            ):  # fmt: skip
                tables.append(getattr(value.Meta, "table", "") or value.__name__.lower())
    return tuple(sorted(tables))
