"""The generated files under ``docs/diagrams`` and the check that they are current.

``python -m onemount.statemachine.diagramcheck DIR`` (``make diagrams-check``) regenerates every
artifact in memory and compares it with DIR, so a spec change without ``make diagrams`` fails CI.
"""

from __future__ import annotations

from pathlib import Path

from onemount.statemachine import diagram
from onemount.statemachine.spec import DEFAULT_SPEC_DIR, load_spec, machine_names

TABLE_NAME = "transitions.md"


def generate(spec_dir: Path = DEFAULT_SPEC_DIR) -> dict[str, bytes]:
    """File name -> content for every generated artifact."""
    specs = [load_spec(name, spec_dir) for name in machine_names(spec_dir)]
    files: dict[str, bytes] = {}
    for spec in specs:
        dot = diagram.to_dot(spec)
        files[f"{spec.name}.dot"] = dot.encode()
        files[f"{spec.name}.svg"] = diagram.render(dot, "svg")
        files[f"{spec.name}.mmd"] = diagram.to_mermaid(spec).encode()
    files[TABLE_NAME] = diagram.to_markdown_table(specs).encode()
    return files


def stale(directory: Path, spec_dir: Path = DEFAULT_SPEC_DIR) -> list[str]:
    """Human-readable reasons why ``directory`` does not match the spec (empty when current)."""
    expected = generate(spec_dir)
    reasons = []
    for name, content in sorted(expected.items()):
        path = directory / name
        if not path.exists():
            reasons.append(f"{path} is missing")
        elif path.read_bytes() != content:
            reasons.append(f"{path} is stale")
    known = set(expected)
    for path in sorted(directory.glob("*")):
        if path.name not in known and path.suffix in {".dot", ".svg", ".mmd", ".md"}:
            reasons.append(f"{path} is not generated from any machine (remove it)")
    return reasons


def write(directory: Path, spec_dir: Path = DEFAULT_SPEC_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in generate(spec_dir).items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written
