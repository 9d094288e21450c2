"""The daemon's side of status, pin and conflicts (onemount/control_commands.py): what a request
the CLI would never send is answered with."""

from __future__ import annotations

import pytest

from onemount.control_commands import encode
from onemount.fs import control
from tests.fs.harness import Mount

pytestmark = pytest.mark.fuse


def test_refusals_are_one_line_for_the_user(mount: Mount) -> None:
    def ask(command: str) -> object:
        return control.ask(mount.mountpoint, command, timeout=30)

    assert ask("bogus") == {"error": "unknown command 'bogus'"}
    assert ask("resolve {not json") == {"error": "resolve: the arguments are not JSON"}
    assert ask("resolve [1]") == {"error": "resolve: the arguments must be a JSON object"}
    assert ask(encode("subtree", {"path": "Documents"})) == {
        "error": "path must be the drive path of an item, starting with /"
    }
    assert ask(encode("subtree", {"path": "/nowhere"})) == {
        "error": "no such file or folder on this mount"
    }
    assert ask(encode("resolve", {"path": "/Documents/Welcome.txt", "keep": "mine"})) == {
        "error": "keep must be one of local, remote, both, not 'mine'"
    }
    assert ask(encode("resolve", {"path": "/Documents/Welcome.txt", "keep": "local"})) == {
        "error": "not in conflict (it is GHOST)"
    }
    subtree = ask(encode("subtree", {"path": "/"}))
    assert isinstance(subtree, dict) and subtree["files"] == 14 and subtree["cached"] == 0
