"""Configuration: defaults, the TOML file (with per-mount tables), ONEMOUNT_* and flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from onemount.config import ConfigError, load, markdown, parse_size

ONEMOUNT = [sys.executable, "-m", "onemount"]


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('cache_limit = "20G"\nupload_idle_delay = 5\nlog_level = "warning"\n')
    settings = load(
        config_file=config,
        env={"ONEMOUNT_UPLOAD_IDLE_DELAY": "7.5"},
        flags={"log_level": "debug", "offline": None},
    )
    assert settings["cache_limit"] == 20 << 30
    assert settings.setting("cache_limit").source == "file"
    assert (settings["upload_idle_delay"], settings.setting("upload_idle_delay").source) == (
        7.5,
        "environment",
    )
    assert (settings["log_level"], settings.setting("log_level").where) == ("debug", "--log-level")
    assert settings.setting("offline").source == "default"  # a flag not given is no flag
    engine = settings.engine_config()
    assert (engine.cache_limit_bytes, engine.upload_idle_delay) == (20 << 30, 7.5)


def test_a_mounts_own_table_overrides_the_top_level(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    mount = tmp_path / "OneDrive-Work"
    config.write_text(
        f'download_workers = 2\n[mounts."{mount}"]\ndownload_workers = 8\nread_only = true\n'
    )
    work = load(config_file=config, mountpoint=mount, env={})
    other = load(config_file=config, mountpoint=tmp_path / "elsewhere", env={})
    assert (work["download_workers"], work["read_only"]) == (8, True)
    assert (other["download_workers"], other["read_only"]) == (2, False)
    assert "mounts." in work.setting("download_workers").where


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cache_limt = 1\n", "unknown option 'cache_limt'"),
        ('download_workers = "many"\n', "download_workers: 'many' is not a whole number"),
        ("download_workers = 0\n", "download_workers: 0 is not a whole number of at least 1"),
        ('min_free = "lots"\n', "min_free: 'lots' is not a size"),
        ('log_level = "loud"\n', "log_level: 'loud' is not one of"),
        ('graph_url = "ftp://x"\n', "graph_url: 'ftp://x' is not an http(s) URL"),
        ("offline = 3\n", "offline: 3 is not true or false"),
        ("this is = not toml\n", "not valid TOML"),
    ],
)
def test_a_bad_value_names_its_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=r"config\.toml") as raised:
        load(config_file=config, env={})
    assert message in str(raised.value)


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"\$ONEMOUNT_HYDRATE_TIMEOUT: hydrate_timeout"):
        load(config_file=None, env={"ONEMOUNT_HYDRATE_TIMEOUT": "soon", "HOME": "/nonexistent"})


def test_sizes_read_as_people_write_them() -> None:
    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5 GiB") == int(1.5 * (1 << 30))
    assert parse_size("10GB") == 10 << 30
    assert parse_size("4096") == 4096
    with pytest.raises(ValueError):
        parse_size("ten")


def test_config_show_reports_value_and_origin(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("download_workers = 6\n")
    env = {"ONEMOUNT_OFFLINE": "yes", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run(
        [*ONEMOUNT, "config", "show", "--config", str(config), "--json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["download_workers"] == {"value": 6, "source": "file", "from": str(config)}
    assert data["offline"] == {"value": True, "source": "environment", "from": "$ONEMOUNT_OFFLINE"}
    assert data["upload_workers"]["source"] == "default"
    config.write_text("download_workers = -1\n")
    bad = subprocess.run(
        [*ONEMOUNT, "config", "show", "--config", str(config)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "download_workers" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_docs_table_is_the_declared_options() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "config.md").read_text()
    assert markdown() in docs, "docs/config.md is stale: paste `onemount config show --markdown`"
