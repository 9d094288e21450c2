"""Drawings and tables of the machines, generated from ``spec/`` and nothing else.

The DOT and Mermaid text is written here rather than by python-statemachine's diagram module
because the library's DOT embeds object addresses (so it changes on every run, and a freshness
check could never pass) and humanises event names (``Request ok``), which hides the identifiers
the code and the journal use. Transitions between the same two states are merged into one edge
whose label lists each ``event [guard]``: the item machine stays legible that way.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from onemount.statemachine.spec import MachineSpec, TransitionSpec

FORMATS = ("svg", "png", "dot", "mermaid")


class GraphvizMissing(RuntimeError):
    """The ``dot`` program is not installed (Debian package ``graphviz``)."""


def _edges(spec: MachineSpec) -> dict[tuple[str, str], list[TransitionSpec]]:
    edges: dict[tuple[str, str], list[TransitionSpec]] = {}
    for transition in spec.transitions:
        edges.setdefault((transition.source, transition.target), []).append(transition)
    return edges


def _edge_label(transition: TransitionSpec) -> str:
    guard = transition.guard.source
    return transition.event if guard == "true" else f"{transition.event} [{guard}]"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(spec: MachineSpec) -> str:
    lines = [
        f"digraph {spec.name} {{",
        f'  graph [rankdir=TB, fontname="Helvetica", fontsize=14, labelloc=t, '
        f'label="{spec.name} machine", nodesep=0.4, ranksep=0.9, newrank=true];',
        '  node [shape=box, style="rounded,filled", fillcolor="#eef2fa", color="#34495e", '
        'fontname="Helvetica", fontsize=12];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
        '  __start [shape=point, width=0.15, label=""];',
        f"  __start -> {spec.initial};",
    ]
    for state in spec.states:
        if state in spec.final_states:
            lines.append(f'  {state} [peripheries=2, fillcolor="#e8e8e8"];')
        else:
            lines.append(f"  {state};")
    for (source, target), transitions in _edges(spec).items():
        label = "\\l".join(_dot_escape(_edge_label(t)) for t in transitions) + "\\l"
        lines.append(f'  {source} -> {target} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(spec: MachineSpec) -> str:
    lines = ["stateDiagram-v2", "    direction LR", f"    [*] --> {spec.initial}"]
    for (source, target), transitions in _edges(spec).items():
        label = "<br/>".join(_edge_label(t) for t in transitions)
        lines.append(f"    {source} --> {target} : {label}")
    for state in sorted(spec.final_states):
        lines.append(f"    {state} --> [*]")
    return "\n".join(lines) + "\n"


def render(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz on DOT text; ``fmt`` is ``svg`` or ``png``."""
    try:
        completed = subprocess.run(
            ["dot", f"-T{fmt}"], input=dot_source.encode(), capture_output=True, check=True
        )
    except FileNotFoundError as exc:
        raise GraphvizMissing("Graphviz 'dot' is not installed (apt-get install graphviz)") from exc
    return completed.stdout


def to_markdown_table(specs: Iterable[MachineSpec]) -> str:
    """Every transition of every machine, with guards and effects, as Markdown."""
    out = [
        "# Transition tables",
        "",
        "Generated from `spec/` by `onemount spec table`. Do not edit.",
        "",
    ]
    for spec in specs:
        out += [f"## {spec.name}", "", spec.description, ""]
        out += ["| from | event | guard | to | effects |", "|---|---|---|---|---|"]
        for t in spec.transitions:
            guard = "" if t.guard.source == "true" else f"`{t.guard.source}`"
            effects = ", ".join(f"`{e}`" for e in t.effects)
            out.append(f"| {t.source} | `{t.event}` | {guard} | {t.target} | {effects} |")
        out.append("")
        if spec.guards:
            out += ["| guard | meaning |", "|---|---|"]
            out += [f"| `{name}` | {meaning} |" for name, meaning in spec.guards.items()]
            out.append("")
        out += ["| state | meaning | invariants |", "|---|---|---|"]
        for state in spec.states:
            invariants = "; ".join(f"`{i.source}`" for i in spec.state_invariants.get(state, ()))
            out.append(f"| {state} | {spec.state_meanings.get(state, '')} | {invariants} |")
        out.append("")
    return "\n".join(out)
