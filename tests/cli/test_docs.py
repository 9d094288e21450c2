"""docs/cli.md is held to the parser: every command and option is named in its command's section;
every command's --help works and the daily ones say their exit status."""

from __future__ import annotations

import argparse
import contextlib
import io
import re

import pytest

from onemount.cli import build_parser
from tests.fs.harness import REPO

DOCS = (REPO / "docs" / "cli.md").read_text()
DAILY = ("status", "pin", "unpin", "conflicts list", "conflicts resolve", "stats", "demo")


def commands(
    parser: argparse.ArgumentParser, name: str = ""
) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command below ``parser``, as ("conflicts resolve", its parser)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                full = f"{name} {sub}".strip()
                found.append((full, child))
                found.extend(commands(child, full))
    return found


def section(top: str) -> str:
    """The part of docs/cli.md under the heading that names ``onemount TOP``."""
    for block in re.split(r"^### ", DOCS, flags=re.MULTILINE)[1:]:
        heading = block.splitlines()[0]
        if f"onemount {top}" in heading.split(" / ") or heading == f"onemount {top}":
            return block
    raise AssertionError(f"docs/cli.md has no section for onemount {top}")


@pytest.mark.parametrize(("name", "parser"), commands(build_parser()), ids=lambda v: str(v))
def test_every_command_and_option_is_documented(name: str, parser: argparse.ArgumentParser) -> None:
    text = section(name.split()[0])
    assert f"onemount {name}" in text.replace("\n", " ") or len(name.split()) == 1, name
    for action in parser._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert option in text, f"docs/cli.md: onemount {name} {option}"


@pytest.mark.parametrize(("name", "parser"), commands(build_parser()), ids=lambda v: str(v))
def test_every_command_has_help(name: str, parser: argparse.ArgumentParser) -> None:
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit) as done:
        build_parser().parse_args([*name.split(), "--help"])
    assert done.value.code == 0
    assert shown.getvalue().startswith("usage: onemount ")
    if name in DAILY:
        assert "Exit status: 0" in shown.getvalue()
