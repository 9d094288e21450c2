"""A systemd user unit per mount: ``onemount@<escaped mountpoint>.service``.

The template unit runs ``onemount mount`` in the foreground with ``Type=notify``: systemd calls
the mount started when the daemon says ``READY=1`` (the filesystem answers), stops it with
``onemount unmount`` (which sends what is pending until the drain deadline and keeps the rest
queued), and restarts it on failure. The instance name is the mountpoint escaped the way
``systemd-escape --path`` does, and ``%f`` gives the path back, so one template serves every
mount (several accounts at once, each with its own config, cache and store).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = "onemount@.service"

_UNIT = """\
[Unit]
Description=onemount: OneDrive files on demand at %f
Documentation=file://{docs}
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={executable} mount %f
ExecStop={executable} unmount %f
Restart=on-failure
RestartSec=5
TimeoutStartSec=120
TimeoutStopSec=90

[Install]
WantedBy=default.target
"""


def unit_text(executable: Path, docs: Path) -> str:
    return _UNIT.format(executable=executable, docs=docs)


def escape_path(path: Path) -> str:
    """The instance name of ``path``, as ``systemd-escape --path`` makes it.

    Slashes become ``-``; ASCII letters, digits, ``:``, ``_`` and a ``.`` not in first place
    stay; every other byte of the UTF-8 name becomes ``\\xNN``. The root is ``-``.
    """
    text = os.path.normpath(str(path)).strip("/")
    if not text:
        return "-"
    out: list[str] = []
    for index, byte in enumerate(text.encode()):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif (char.isascii() and char.isalnum()) or char in ":_" or (char == "." and index):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def instance(mountpoint: Path) -> str:
    return f"onemount@{escape_path(mountpoint)}.service"


def user_unit_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


@dataclass(frozen=True)
class Installed:
    unit_file: Path
    instance: str
    commands: tuple[tuple[str, ...], ...]  # what was run (or would be, with dry_run)


def install(
    mountpoint: Path,
    *,
    unit_dir: Path,
    executable: Path,
    docs: Path,
    enable: bool = True,
    start: bool = True,
    dry_run: bool = False,
) -> Installed:
    """Write the template unit and enable (and start) the mount's instance of it."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit_file = unit_dir / TEMPLATE
    unit_file.write_text(unit_text(executable, docs))
    name = instance(mountpoint.resolve())
    commands: list[tuple[str, ...]] = [("systemctl", "--user", "daemon-reload")]
    if enable:
        commands.append(("systemctl", "--user", "enable", *(("--now",) if start else ()), name))
    if not dry_run:
        for command in commands:
            _run(command)
    return Installed(unit_file, name, tuple(commands))


def _run(command: Sequence[str]) -> None:
    if shutil.which(command[0]) is None:
        raise RuntimeError(f"{command[0]} is not installed: the unit is written, enable it by hand")
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.returncode}")
