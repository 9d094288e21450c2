"""onemount's configuration: every option declared once, with its type, default and meaning.

A value comes from one of four places, the later winning: the **default** below, the **file**
(TOML, ``$XDG_CONFIG_HOME/onemount/config.toml`` or ``--config FILE``), the **environment**
(``ONEMOUNT_<KEY>``, the key upper-cased) and a command-line **flag**. ``onemount config show``
prints the effective value of each option and where it came from; docs/config.md is generated
from the same declarations (``onemount config show --markdown``), so the documentation cannot
drift from the code.

A file may hold settings for several mounts: top-level keys apply to every mount, and a table
``[mounts."/home/me/OneDrive"]`` overrides them for the mount at that path (each mount also has
its own cache directory, store and token file). A value that is not of its option's type, an
unknown key, or a number out of range is a :class:`ConfigError` that names the key and where it
was read.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from onemount.engine.config import EngineConfig

Source = Literal["default", "file", "environment", "flag"]
Value = bool | int | float | str | None
ENV_PREFIX = "ONEMOUNT_"


class ConfigError(ValueError):
    """A configuration value onemount cannot use; the message names the key and its source."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``"10G"``, ``"512 MiB"``, ``"1.5GB"`` or plain bytes; binary units (a cache is on a disk)."""
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size (for example 512M, 10G, 1073741824)")
    number, unit = found.groups()
    multiplier = _UNITS[(unit or "").upper().rstrip("B").rstrip("I")]
    return int(float(number) * multiplier)


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


def _positive_int(raw: object) -> int:
    problem = ValueError(f"{raw!r} is not a whole number of at least 1")
    if isinstance(raw, bool):
        raise problem
    try:
        value = int(str(raw))
    except ValueError:
        raise problem from None
    if value < 1:
        raise problem
    return value


def _seconds(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number of seconds")
    try:
        value = float(str(raw))
    except ValueError:
        raise ValueError(f"{raw!r} is not a number of seconds") from None
    if not value >= 0:
        raise ValueError(f"{raw!r} is not a number of seconds")
    return value


def _size(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a size")
    return raw if isinstance(raw, int) and raw >= 0 else parse_size(str(raw))


def _optional_size(raw: object) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.lower() in ("", "none", "unlimited")):
        return None
    return _size(raw)


def _log_level(raw: object) -> str:
    level = str(raw).lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError(f"{raw!r} is not one of debug, info, warning, error")
    return level


def _conflict_policy(raw: object) -> str:
    policy = str(raw).lower()
    if policy not in ("both", "ask"):
        raise ValueError(f"{raw!r} is not both or ask")
    return policy


def _path_or_none(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    return str(Path(str(raw)).expanduser())


def _url_or_none(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if not text.startswith(("https://", "http://")):
        raise ValueError(f"{raw!r} is not an http(s) URL")
    return text.rstrip("/")


@dataclass(frozen=True)
class Option:
    key: str
    parse: Callable[[object], Value]
    default: Value
    meaning: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.key.upper()


_ENGINE_DEFAULTS = EngineConfig()

OPTIONS: tuple[Option, ...] = (
    Option("cache_dir", _path_or_none, None, "Where the mount keeps its store and cached bytes"
           " (default: $XDG_CACHE_HOME/onemount/<escaped mountpoint>)."),
    Option("log_level", _log_level, "info", "debug, info, warning or error."),
    Option("graph_url", _url_or_none, None, "A Graph-compatible endpoint to use instead of"
           " Microsoft Graph (the fake, for example); needs token_file."),
    Option("token_file", _path_or_none, None, "A file (mode 0600) holding a bearer token for"
           " graph_url; no sign-in is attempted."),
    Option("offline", _bool, False, "Never touch the network: serve from the store and cache."),
    Option("read_only", _bool, False, "Refuse every change through the mount (EROFS)."),
    Option("notifications", _bool, True, "Keep a change-notification socket to Graph; without it"
           " the adaptive polling cadence alone finds remote changes."),
    Option("download_workers", _positive_int, _ENGINE_DEFAULTS.download_workers,
           "Downloads that run at once."),
    Option("upload_workers", _positive_int, _ENGINE_DEFAULTS.upload_workers,
           "Uploads, folder creations, moves and deletes that run at once."),
    Option("cache_limit", _optional_size, _ENGINE_DEFAULTS.cache_limit_bytes,
           "The content cache's size limit (e.g. 20G; unlimited: only min_free applies)."),
    Option("min_free", _size, _ENGINE_DEFAULTS.min_free_bytes,
           "Free disk space the cache always leaves (e.g. 512M)."),
    Option("upload_idle_delay", _seconds, _ENGINE_DEFAULTS.upload_idle_delay,
           "Seconds after the last write or close before a file's upload starts."),
    Option("hydrate_timeout", _seconds, _ENGINE_DEFAULTS.hydrate_timeout,
           "Seconds an open of a not-yet-downloaded file waits before ETIMEDOUT."),
    Option("drain_deadline", _seconds, _ENGINE_DEFAULTS.drain_deadline,
           "Seconds unmount keeps sending pending changes before leaving the rest queued."),
    Option("conflicts", _conflict_policy, _ENGINE_DEFAULTS.conflict_policy,
           "both: a conflict keeps both versions on its own once the file is closed; ask: it"
           " waits for `onemount conflicts resolve`."),
)  # fmt: skip
_BY_KEY = {option.key: option for option in OPTIONS}


@dataclass(frozen=True)
class Setting:
    key: str
    value: Value
    source: Source
    where: str  # the file, the variable or the flag it was read from ("" for a default)


class Settings(Mapping[str, Value]):
    """The effective configuration of one mount: a value and its origin per option."""

    def __init__(self, settings: Mapping[str, Setting]) -> None:
        self._settings = dict(settings)

    def __getitem__(self, key: str) -> Value:
        return self._settings[key].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)

    def setting(self, key: str) -> Setting:
        return self._settings[key]

    def engine_config(self) -> EngineConfig:
        """The engine's knobs from these settings."""
        return EngineConfig(
            download_workers=int(self["download_workers"] or 1),
            upload_workers=int(self["upload_workers"] or 1),
            cache_limit_bytes=None if self["cache_limit"] is None else int(self["cache_limit"]),
            min_free_bytes=int(self["min_free"] or 0),
            upload_idle_delay=float(self["upload_idle_delay"] or 0.0),
            hydrate_timeout=float(self["hydrate_timeout"] or 0.0),
            drain_deadline=float(self["drain_deadline"] or 0.0),
            offline=bool(self["offline"]),
            read_only=bool(self["read_only"]),
            conflict_policy="ask" if self["conflicts"] == "ask" else "both",
            notifications=bool(self["notifications"]),
        )


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "onemount" / "config.toml"


def load(
    *,
    config_file: Path | None = None,
    mountpoint: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> Settings:
    """The effective settings: defaults, then the file, the environment and the flags.

    ``config_file`` None means the default path, which may be absent; a file named explicitly
    must exist. Flags whose value is None were not given.
    """
    env = os.environ if env is None else env
    explicit = config_file is not None
    path = config_file if config_file is not None else default_config_path(env)
    settings = {o.key: Setting(o.key, o.default, "default", "") for o in OPTIONS}
    for key, raw, where in _file_values(path, explicit=explicit, mountpoint=mountpoint):
        settings[key] = Setting(key, _parse(key, raw, where), "file", where)
    for option in OPTIONS:
        if option.env in env:
            where = f"${option.env}"
            settings[option.key] = Setting(
                option.key, _parse(option.key, env[option.env], where), "environment", where
            )
    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        where = "--" + key.replace("_", "-")
        settings[key] = Setting(key, _parse(key, raw, where), "flag", where)
    return Settings(settings)


def _parse(key: str, raw: object, where: str) -> Value:
    option = _BY_KEY.get(key)
    if option is None:
        known = ", ".join(sorted(_BY_KEY))
        raise ConfigError(f"{where}: unknown option {key!r} (known: {known})")
    try:
        return option.parse(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from exc


def _file_values(
    path: Path, *, explicit: bool, mountpoint: Path | None
) -> list[tuple[str, object, str]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{path}: no such configuration file") from None
        return []
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    mounts = document.pop("mounts", {})
    if not isinstance(mounts, dict):
        raise ConfigError(f"{path}: 'mounts' must be a table of mountpoints")
    found = [(key, value, str(path)) for key, value in document.items()]
    for where, table in mounts.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: mounts.{where!r} must be a table")
        if mountpoint is not None and Path(where).expanduser().resolve() == mountpoint.resolve():
            found += [(k, v, f"{path} [mounts.{where!r}]") for k, v in table.items()]
    return found


def markdown() -> str:
    """The table of every option for docs/config.md."""
    lines = ["| key | environment | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        default = "—" if option.default is None else f"`{option.default}`"
        lines.append(f"| `{option.key}` | `{option.env}` | {default} | {option.meaning} |")
    return "\n".join(lines) + "\n"
