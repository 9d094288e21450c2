"""``onemount spec``: diagrams, tables and the check as a user runs them."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from onemount.statemachine import default_spec, machine_names


def onemount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onemount", *args], capture_output=True, text=True, check=False
    )


def test_shipped_spec_passes_the_check() -> None:
    result = onemount("spec", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in machine_names():
        assert f"{name}: ok" in result.stdout
    assert "0 property violation(s)" in result.stdout


def test_svg_per_machine_names_every_state_and_event(tmp_path: Path) -> None:
    result = onemount("spec", "diagram", "--format", "svg", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in machine_names():
        svg = tmp_path / f"{name}.svg"
        text = "".join(ET.parse(svg).getroot().itertext())
        spec = default_spec(name)
        for state in spec.states:
            assert state in text, f"{name}.svg does not show state {state}"
        for event in spec.used_events:
            assert event in text, f"{name}.svg does not show event {event}"


def test_png_needs_an_output_folder_and_writes_png(tmp_path: Path) -> None:
    assert onemount("spec", "diagram", "--format", "png").returncode == 2
    result = onemount(
        "spec", "diagram", "--format", "png", "--machine", "mount", "--out", str(tmp_path)
    )
    assert result.returncode == 0
    assert (tmp_path / "mount.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


MERMAID_LINE = re.compile(
    r"^(stateDiagram-v2|    direction LR|    \[\*\] --> [A-Z_]+|    [A-Z_]+ --> \[\*\]"
    r"|    [A-Z_]+ --> [A-Z_]+ : [a-z_]+( \[[a-z_ ()]+\])?(<br/>[a-z_]+( \[[a-z_ ()]+\])?)*)$"
)


def test_mermaid_output_is_a_state_diagram_of_every_transition() -> None:
    result = onemount("spec", "diagram", "--format", "mermaid", "--machine", "item")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2"
    bad = [line for line in lines if not MERMAID_LINE.match(line)]
    assert not bad, f"lines outside the stateDiagram-v2 grammar we emit: {bad}"
    labels = " ".join(lines)
    for transition in default_spec("item").transitions:
        assert f"{transition.source} --> {transition.target} :" in labels
        assert transition.event in labels


def test_mermaid_on_standard_output_is_one_document(tmp_path: Path) -> None:
    """Several stateDiagram-v2 blocks back to back are not Mermaid: ask for one or a folder."""
    result = onemount("spec", "diagram", "--format", "mermaid")
    assert result.returncode == 2 and result.stdout == ""
    assert "--machine NAME" in result.stderr and "--out DIR" in result.stderr
    for name in machine_names():
        assert name in result.stderr
    one = onemount("spec", "diagram", "--format", "mermaid", "--machine", "mount")
    assert one.returncode == 0 and one.stdout.count("stateDiagram-v2") == 1
    if (MERMAID_TOOL / "node_modules" / "mermaid").is_dir():
        written = tmp_path / "mount.mmd"
        written.write_text(one.stdout)
        parsed = subprocess.run(
            ["node", str(MERMAID_TOOL / "parse.mjs"), str(written)], capture_output=True, text=True
        )
        assert parsed.returncode == 0, parsed.stdout + parsed.stderr


MERMAID_TOOL = Path(__file__).resolve().parents[2] / "tools" / "mermaid"


def test_mermaid_parser_accepts_every_machine(tmp_path: Path) -> None:
    if not (MERMAID_TOOL / "node_modules" / "mermaid").is_dir():
        pytest.skip("Mermaid's parser is not installed: 'make test' installs it (npm ci)")
    result = onemount("spec", "diagram", "--format", "mermaid", "--out", str(tmp_path))
    assert result.returncode == 0
    files = sorted(str(p) for p in tmp_path.glob("*.mmd"))
    assert len(files) == len(machine_names())
    parsed = subprocess.run(
        ["node", str(MERMAID_TOOL / "parse.mjs"), *files], capture_output=True, text=True
    )
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    broken = tmp_path / "broken.mmd"
    broken.write_text("stateDiagram-v2\n    GHOST --> : hydrate_requested\n")
    rejected = subprocess.run(
        ["node", str(MERMAID_TOOL / "parse.mjs"), str(broken)], capture_output=True, text=True
    )
    assert rejected.returncode == 1 and "INVALID" in rejected.stdout


def test_table_lists_every_transition_with_effects() -> None:
    result = onemount("spec", "table")
    assert result.returncode == 0
    spec = default_spec("item")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for transition in spec.transitions:
        effects = ", ".join(f"`{e}`" for e in transition.effects)
        assert any(
            f"| {transition.source} | `{transition.event}` |" in row
            and f"| {transition.target} | {effects} |" in row
            for row in rows
        ), transition.label
