"""``llmgate ollama-key add|list|remove``."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.cli import main
from tests.fake_ollama import FakeOllama, KeyBehaviour

SECRET = "cli-secret-key-abcd-9876"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeOllama, capsys: pytest.CaptureFixture[str]):
    for name, value in {
        "LLMGATE_DATA_DIR": str(tmp_path / "data"),
        "LLMGATE_DATABASE_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
        "LLMGATE_SECRET_KEY": "cli-test-secret-0123456789-abcdefghij",
        "LLMGATE_OLLAMA_CLOUD_URL": fake.url,
    }.items():
        monkeypatch.setenv(name, value)

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    assert run("user", "create", "alice", "--password-stdin", stdin="correct horse battery\n")[0] == 0
    return run


def test_add_list_remove(cli, fake: FakeOllama) -> None:
    code, out, err = cli("ollama-key", "add", "alice", "--name", "main", "--key-stdin", "--preferred", stdin=SECRET + "\n")
    assert code == 0, err
    assert "added Ollama key 'main'" in out and "(preferred)" in out and "9876" in out
    code, out, err = cli("ollama-key", "list", "alice")
    assert code == 0, err
    assert "main" in out and "…9876" in out and "ok, preferred" in out and "10%" in out and "pro" in out
    assert SECRET not in out + err
    assert cli("ollama-key", "remove", "alice", "main")[0] == 0
    assert "no Ollama keys" in cli("ollama-key", "list", "alice")[1]
    assert [r.bearer for r in fake.requests if r.path == "/api/me"] == [SECRET]


def test_a_refused_key_is_not_stored_and_the_reason_shown(cli, fake: FakeOllama) -> None:
    fake.keys[SECRET] = KeyBehaviour(status=401)
    code, out, err = cli("ollama-key", "add", "alice", "--name", "bad", "--key-stdin", stdin=SECRET + "\n")
    assert code == 1
    assert "did not accept this key" in err and "401" in err and SECRET not in out + err
    assert "no Ollama keys" in cli("ollama-key", "list", "alice")[1]


def test_the_key_is_never_an_argument(cli) -> None:
    code, _, err = cli("ollama-key", "add", "alice", "--name", "x")
    assert code == 1 and "--key-stdin" in err


def test_unknown_names_are_one_line_errors(cli) -> None:
    code, _, err = cli("ollama-key", "remove", "alice", "nope")
    assert code == 1 and "No Ollama key named 'nope'" in err
    code, _, err = cli("ollama-key", "list", "bob")
    assert code == 1 and "No user named 'bob'" in err


@pytest.mark.parametrize(
    ("name", "secret", "reason"),
    [
        ("mine", "ключ-0123456789", "does not look like an Ollama key"),
        ("mine", "abc\u00e9def0123456", "does not look like an Ollama key"),
        ("bad\x1b[31mred", SECRET, "no control characters"),
        ("two\u2028lines", SECRET, "no control characters"),
    ],
)
def test_a_secret_or_label_that_would_break_a_header_or_a_terminal_is_refused(
    cli, fake: FakeOllama, name: str, secret: str, reason: str
) -> None:
    code, _, err = cli("ollama-key", "add", "alice", "--name", name, "--key-stdin", stdin=secret + "\n")
    assert code == 1 and reason in err, err
    assert not [r for r in fake.requests if r.path == "/api/me"]


def test_a_label_in_another_script_is_kept(cli) -> None:
    code, _, err = cli("ollama-key", "add", "alice", "--name", "ключ 🔑", "--key-stdin", stdin=SECRET + "\n")
    assert code == 0, err
    assert "ключ 🔑" in cli("ollama-key", "list", "alice")[1]


def test_the_ollama_key_command_is_the_plugins_own_without_a_cycle() -> None:
    """The plugin's CLI needs only the shared helpers, never the core's command module."""
    probe = "import sys, plugins.ollama_keys.cli; print('proxy.cli' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "False"
    from proxy.cli import CORE_COMMANDS, build_parser

    assert "ollama-key" not in CORE_COMMANDS
    with pytest.raises(SystemExit):  # without the plugin there is no such command
        build_parser(None).parse_args(["ollama-key", "list", "alice"])
