"""``onemount spec``: check, draw and tabulate the declared state machines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from onemount.statemachine import diagram
from onemount.statemachine.check import check_machine
from onemount.statemachine.spec import DEFAULT_SPEC_DIR, SpecError, load_spec, machine_names


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("spec", help="check, draw and tabulate spec/")
    parser.set_defaults(handler=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="spec_command", metavar="ACTION")

    check = commands.add_parser("check", help="validate every machine (exit 1 on any problem)")
    _spec_dir_option(check)
    check.add_argument(
        "--depth", type=int, default=40, help="exploration depth of the item machine (default 40)"
    )
    check.set_defaults(handler=run_check)

    draw = commands.add_parser("diagram", help="draw the machines")
    _spec_dir_option(draw)
    draw.add_argument("--format", choices=diagram.FORMATS, default="svg")
    draw.add_argument("--machine", help="one machine (default: all)")
    draw.add_argument(
        "--out",
        type=Path,
        help="folder to write <machine>.<ext> into (default: standard output; png and, for"
        " more than one machine, mermaid need it)",
    )
    draw.set_defaults(handler=run_diagram)

    table = commands.add_parser("table", help="a Markdown transition table of every machine")
    _spec_dir_option(table)
    table.add_argument("--out", type=Path, help="file to write (default: standard output)")
    table.set_defaults(handler=run_table)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _spec_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec-dir", type=Path, default=DEFAULT_SPEC_DIR, help="folder of the declarations"
    )


def run_check(args: argparse.Namespace) -> int:
    failed = False
    for name in machine_names(args.spec_dir):
        try:
            result = check_machine(load_spec(name, args.spec_dir), explore_depth=args.depth)
        except SpecError as exc:
            print(f"{name}: FAILED\n  unreadable: {exc}")
            failed = True
            continue
        print(f"{name}: {'ok' if result.ok else 'FAILED'}")
        for problem in result.problems:
            print(f"  {problem.kind}: {problem.message}")
        if result.exploration is not None:
            print(f"  {result.exploration.summary()}")
        if result.skipped:
            print(f"  {result.skipped}")
        failed = failed or not result.ok
    return 1 if failed else 0


def run_diagram(args: argparse.Namespace) -> int:
    names = [args.machine] if args.machine else list(machine_names(args.spec_dir))
    extension = {"mermaid": "mmd"}.get(args.format, args.format)
    if args.out is None and args.format == "png":
        print("--format png needs --out DIR", file=sys.stderr)
        return 2
    if args.out is None and args.format == "mermaid" and len(names) > 1:
        # A Mermaid document holds one diagram: stateDiagram-v2 blocks back to back are
        # rejected by Mermaid's parser, so standard output takes one machine or none.
        print(
            "--format mermaid writes one diagram per document: give --machine NAME"
            f" (one of {', '.join(names)}) or --out DIR for all of them",
            file=sys.stderr,
        )
        return 2
    for name in names:
        spec = load_spec(name, args.spec_dir)
        if args.format == "mermaid":
            content = diagram.to_mermaid(spec).encode()
        elif args.format == "dot":
            content = diagram.to_dot(spec).encode()
        else:
            content = diagram.render(diagram.to_dot(spec), args.format)
        if args.out is None:
            sys.stdout.buffer.write(content)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{name}.{extension}"
        path.write_bytes(content)
        print(f"wrote {path}")
    return 0


def run_table(args: argparse.Namespace) -> int:
    text = diagram.to_markdown_table(
        load_spec(name, args.spec_dir) for name in machine_names(args.spec_dir)
    )
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0
