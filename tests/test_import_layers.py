"""The layering holds: plugins and the dashboard use the core only through ``proxy.api``, and the core
imports neither. ``lint-imports`` checks it (contracts in pyproject.toml); these tests run it, so
``make test`` and CI fail on a violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("proxy", "plugins", "dashboard", "config")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "lint-imports"
    fallback = [
        sys.executable,
        "-c",
        "from importlinter.cli import lint_imports_command; lint_imports_command()",
    ]
    command = [str(script)] if script.exists() else fallback
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    # --no-cache: a cache written for the real tree must not answer for a copy of it.
    return subprocess.run([*command, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_plugin_contract_names_every_core_module_but_the_api() -> None:
    """A new module in proxy/ is forbidden to plugins until it is listed, or it would slip past."""
    core = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "proxy").glob("*.py")
        if path.name != "__init__.py"
    } | {
        ".".join(path.relative_to(ROOT).parts)
        for path in (ROOT / "proxy").iterdir()
        if path.is_dir() and (path / "__init__.py").exists()
    }
    plugin_contract = next(c for c in contracts() if c["source_modules"] == ["plugins", "dashboard"])
    assert set(plugin_contract["forbidden_modules"]) == core - {"proxy.api"}


def test_a_plugin_importing_core_internals_breaks_the_build(tmp_path: Path) -> None:
    """The contract really catches it: a copy of the tree with one plugin reaching into proxy.dispatch."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "plugins" / "sneaky.py").write_text("from proxy.dispatch import *  # noqa: F403\n")
    (tmp_path / "proxy" / "knows_a_plugin.py").write_text("import dashboard  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "plugins.sneaky -> proxy.dispatch" in result.stdout
    assert "proxy.knows_a_plugin -> dashboard" in result.stdout


def test_the_example_plugins_import_only_the_plugin_api() -> None:
    """What third-party authors copy from (examples/, the test suite's own third-party plugin) keeps
    to the contract too; they are outside the linted packages, so their imports are read here."""
    import ast

    sources = [
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "tests" / "plugins" / "third_party").rglob("*.py"),
    ]
    assert sources
    reaching_in = []
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else ([alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            )
            reaching_in += [
                f"{source.relative_to(ROOT)}: {name}"
                for name in names
                if (name == "proxy" or name.startswith("proxy.")) and name != "proxy.api"
            ]
    assert reaching_in == []
