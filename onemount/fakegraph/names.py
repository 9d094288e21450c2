"""OneDrive's naming rules, as the service enforces them (graph-api.md §8).

Written for the fake from the documented rules, not shared with the client: if the client's own
checks were wrong, the fake must still refuse what OneDrive refuses, so the error reaches a test.
Only rules with a source about the service are here: abraunegg's client also refuses names with
an HTML entity (``&#123;``), but nothing says the service does, so the fake accepts them.
"""

from __future__ import annotations

import re
import unicodedata

from onemount.fakegraph.errors import FakeError

MAX_NAME = 255
# The longest full decoded path (below the root, "a/b/c.txt") each mode accepts. Business must
# be "fewer than 400" characters (graph-api.md §8, from rclone's docs); personal allows 430.
# The checklist's "over 400/430" is looser for business; §8 is the sourced statement, so 400
# itself is refused on business.
LONGEST_PATH = {"personal": 430, "business": 399}

_FORBIDDEN = re.compile(r'[<>:"|?*/\\\x00-\x1f\x7f]')
_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{n}" for d in ("COM", "LPT") for n in range(10)}
_RESERVED = {".lock", "desktop.ini"}


def name_key(name: str) -> str:
    """Case-insensitive identity of a name within its folder (NFC, case-folded)."""
    return unicodedata.normalize("NFC", name).casefold()


def check_name(name: str, *, mode: str) -> None:
    """Raise the 400 ``invalidRequest`` / ``invalidPath`` OneDrive gives for a bad name."""
    reason = _why_invalid(name, mode)
    if reason is not None:
        raise FakeError(400, "invalidRequest", f"Invalid name {name!r}: {reason}", "invalidPath")


def check_path_length(path_chars: int, *, mode: str) -> None:
    """Raise 400 ``pathIsTooLong`` when the item's full path exceeds the mode's limit."""
    if path_chars > LONGEST_PATH[mode]:
        raise FakeError(
            400,
            "invalidRequest",
            f"The path is {path_chars} characters; at most {LONGEST_PATH[mode]} are allowed",
            "pathIsTooLong",
        )


def _why_invalid(name: str, mode: str) -> str | None:
    if not name or name in (".", ".."):
        return "empty or a dot name"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if _FORBIDDEN.search(name):
        return "a forbidden character"
    if name != name.strip(" \t\n\r"):
        return "leading or trailing whitespace"
    if name.endswith("."):
        return "a trailing dot"
    stem = name.split(".", 1)[0].upper()
    if stem in _DEVICES or name.lower() in _RESERVED:
        return "a reserved name"
    if name.startswith("~$") or "_vti_" in name.lower():
        return "a reserved prefix or infix"
    if mode == "business" and name.startswith("~"):
        return "a leading tilde (SharePoint)"
    return None
