"""Settings: defaults, an operator file, LLMGATE_* overrides, the generated secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_need_no_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.database_url == "sqlite://data/llmgate.sqlite3"
    assert settings.upstream_url == "http://127.0.0.1:11434"
    assert settings.ollama_cloud_url == "https://ollama.com"
    assert settings.port == 8080 and settings.disabled_plugins == ()


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    env = {"LLMGATE_DATA_DIR": str(tmp_path / "data")}
    first = load_settings(env=env).secret_key
    path = tmp_path / "data" / "secret_key"
    assert len(first) >= 32 and path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(env=env).secret_key == first  # kept across restarts


def test_environment_overrides_file_overrides_defaults(tmp_path: Path) -> None:
    config = tmp_path / "llmgate.toml"
    config.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[upstream]\ndefault_model = "qwen3"\n'
                      '[plugins]\ndisabled = ["usage_recorder"]\n[plugins.emulator]\nmodels = ["gpt-x"]\n')
    env = {"LLMGATE_CONFIG": str(config), "LLMGATE_PORT": "9100", "LLMGATE_SECRET_KEY": "s" * 40,
           "LLMGATE_DATABASE_URL": "postgres://u@db/llmgate", "LLMGATE_UPSTREAM_URL": "http://ollama:11434/"}
    settings = load_settings(env=env)
    assert settings.port == 9100  # environment wins
    assert settings.host == "0.0.0.0" and settings.default_model == "qwen3"  # file wins over defaults
    assert settings.disabled_plugins == ("usage_recorder",)
    assert settings.plugin("emulator")["models"] == ["gpt-x"]
    assert settings.plugin("emulator")["heartbeat_seconds"] == 5.0  # defaults merge key by key
    assert settings.database_url == "postgres://u@db/llmgate"
    assert settings.upstream_url == "http://ollama:11434"  # no trailing slash to double up


def test_num_ctx_from_environment_and_the_start_up_warning() -> None:
    from plugins.shared_upstream import context_warning

    local = load_settings(env={"LLMGATE_SECRET_KEY": "x" * 40})
    assert local.upstream_num_ctx == 0
    assert "upstream.num_ctx is not set" in (context_warning(local) or "")
    fixed = load_settings(env={"LLMGATE_SECRET_KEY": "x" * 40, "LLMGATE_UPSTREAM_NUM_CTX": "65536"})
    assert fixed.upstream_num_ctx == 65536 and context_warning(fixed) is None
    # Ollama Cloud runs every model at its full context: nothing to warn about.
    cloud = load_settings(env={"LLMGATE_SECRET_KEY": "x" * 40, "LLMGATE_UPSTREAM_URL": "https://ollama.com"})
    assert context_warning(cloud) is None


def test_list_from_environment() -> None:
    settings = load_settings(env={"LLMGATE_PLUGINS_DISABLED": "bypass, usage_recorder", "LLMGATE_SECRET_KEY": "x" * 40})
    assert settings.disabled_plugins == ("bypass", "usage_recorder")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLMGATE_PORT": "eighty"}, "LLMGATE_PORT='eighty' is not a valid int"),
        ({"LLMGATE_ACCESS_LOG": "maybe"}, "LLMGATE_ACCESS_LOG='maybe' is not a valid bool"),
        ({"LLMGATE_UPSTREAM_ENGINE": "curl"}, "upstream.engine must be"),
        ({"LLMGATE_UPSTREAM_NUM_CTX": "64k"}, "LLMGATE_UPSTREAM_NUM_CTX='64k' is not a valid int"),
        ({"LLMGATE_UPSTREAM_NUM_CTX": "-1"}, "upstream.num_ctx must be a whole number"),
        ({"LLMGATE_CONFIG": "/nonexistent/llmgate.toml"}, "does not exist"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env={"LLMGATE_SECRET_KEY": "x" * 40, **env})


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server\nport = 1")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings(env={"LLMGATE_CONFIG": str(config), "LLMGATE_SECRET_KEY": "x" * 40})


@pytest.mark.parametrize("secret", ["x", "s" * 31, "é" * 15])
def test_a_short_secret_key_is_refused_with_a_clear_message(secret: str) -> None:
    with pytest.raises(SettingsError, match=r"LLMGATE_SECRET_KEY\) is \d+ bytes long; it must be at least 32"):
        load_settings(env={"LLMGATE_SECRET_KEY": secret})
    assert load_settings(env={"LLMGATE_SECRET_KEY": "s" * 32}).secret_key == "s" * 32
