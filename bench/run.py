"""Run every benchmark module (``bench/bench_*.py``) and report its figures.

Each module exposes ``collect() -> list[Figure]``. The report is a table on stdout and a JSON
file (``bench/results.json``, or ``--json PATH``) with each figure, its baseline and the ratio.
``--only NAME`` runs the modules whose name contains NAME.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import bench
from bench.harness import Figure


def discover(only: str | None) -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]
    return sorted(n for n in names if only is None or only in n)


def format_table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "baseline", "baseline value", "ratio")]
    for f in figures:
        rows.append(
            (
                f.name,
                f"{f.value:,.1f} {f.unit}",
                f.baseline_name,
                f"{f.baseline_value:,.1f} {f.unit}",
                f"{f.ratio:.3g}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the benchmark modules whose name contains this")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args(argv)

    figures: list[Figure] = []
    for name in discover(args.only):
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        print(f"# {name} ...", file=sys.stderr, flush=True)
        figures.extend(module.collect())
        print(f"# {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(format_table(figures))
    args.json.write_text(json.dumps([f.as_dict() for f in figures], indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
