"""``make demo`` runs ``python -m onemount.demo``: check what it shows a user, twice in a row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def demo(data: Path) -> str:
    command = [sys.executable, "-m", "onemount", "demo", "--data", str(data)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_demo_tours_the_sample_drive_and_keeps_it(tmp_path: Path) -> None:
    first = demo(tmp_path / "drive")
    assert "Downloaded Welcome.txt: 177 bytes, quickXorHash verified" in first
    assert "  | Welcome to your onemount sample drive." in first
    assert "      beach.jpg  (175.8 KiB)" in first
    assert "Uploaded Documents/Notes from the demo.txt" in first
    assert "files: ['Notes from the demo.txt', 'Shopping list.md']" in first
    assert "Not yet available: `onemount mount`" in first

    second = demo(tmp_path / "drive")  # the same drive, with the first run's upload in it
    assert "Notes from the demo.txt is there from an earlier run: not overwritten" in second
    assert "    Notes from the demo.txt  (" in second
