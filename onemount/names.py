"""OneDrive's naming rules, and Linux's, checked on the client before a name goes anywhere.

Two questions, kept apart because their answers differ:

* May this name be **sent to OneDrive**? (:func:`check_name`, :func:`check_path`.) A name the
  service refuses would only fail later, in an upload the user no longer watches, so the FUSE
  layer refuses it at ``create``/``mkdir``/``rename`` time with the errno of the exception.
* May this name be **a path component on Linux**? (:func:`check_component` for safety,
  :func:`check_local_component` for safety and length.) A name the server already holds is
  legal there by definition, but it may still not be showable: a 255-character CJK name is
  765 bytes of UTF-8, past ``NAME_MAX``. The store sets such an item aside with the
  exception's reason instead of refusing the page it came in.

The rules and their sources are in ``graph-api.md`` §8 and §13; each rule below cites its key.
The fake Graph keeps its own, independent copy (``onemount/fakegraph/names.py``), so a mistake
here still meets the service's refusal in tests. Case-insensitive identity is not decided here
(see the case-folded key in ``onemount/store/names.py``).

**How lengths are counted.** The service counts "characters" without saying which; it is
.NET (SharePoint), whose strings are UTF-16, so a name is measured in **UTF-16 code units**:
an emoji outside the Basic Multilingual Plane counts 2, a flag 4. That is an inference, chosen
because it is the strictest plausible count: a name refused here that the service would have
taken costs the user a rename at the boundary, a name allowed here that the service refuses
costs an upload that fails after the user has moved on. (abraunegg counts graphemes [A-sync],
the fake counts code points.) Names are measured **as given**, never normalised: the service
stores names as it receives them [D-case], and Linux passes them through unchanged, so an NFD
"é" (two code points) is two characters here, as it is to the service.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from errno import EINVAL, ENAMETOOLONG
from types import MappingProxyType
from typing import ClassVar

# Single names: 255 characters [KB-255, third-party, the only source found].
MAX_NAME_UNITS = 255
# Linux's NAME_MAX: a path component is at most 255 *bytes*; FUSE cannot show a longer one.
MAX_LOCAL_NAME_BYTES = 255


class DriveKind(enum.Enum):
    """Which service rules apply: personal OneDrive, or OneDrive for Business / SharePoint."""

    PERSONAL = "personal"
    BUSINESS = "business"


# The longest full decoded path, counted as the components joined by "/" below the drive root
# ("a/b/c.txt", as the fake counts it). Personal allows 430 [A-sync ~l.9143]; Business must be
# "fewer than 400" [R-doc], so 399 is the longest it takes (graph-api.md §8, §13).
MAX_PATH_UNITS: Mapping[DriveKind, int] = MappingProxyType(
    {DriveKind.PERSONAL: 430, DriveKind.BUSINESS: 399}
)


class Rule(enum.Enum):
    """The rule a name breaks: a stable code for logs and tests; the sentence is the reason."""

    EMPTY = "empty"
    DOT_NAME = "dot name"
    SEPARATOR = "path separator"
    FORBIDDEN_CHARACTER = "forbidden character"
    CONTROL_CHARACTER = "control character"
    NOT_UNICODE = "not valid Unicode"
    EDGE_SPACE = "leading or trailing space"
    TRAILING_DOT = "trailing dot"
    RESERVED_NAME = "reserved name"
    RESERVED_PREFIX = "reserved prefix"
    RESERVED_INFIX = "reserved infix"
    LEADING_TILDE = "leading tilde"
    RESERVED_TOP_LEVEL = "reserved top-level name"
    NAME_TOO_LONG = "name too long"
    PATH_TOO_LONG = "path too long"
    LOCAL_NAME_TOO_LONG = "name too long for Linux"


class ForbiddenName(ValueError):
    """``name`` breaks ``rule``; ``reason`` is a sentence naming the rule, for the user or a log.

    ``errno`` is what the FUSE layer answers the system call with.
    """

    errno: ClassVar[int] = EINVAL

    def __init__(self, name: str, rule: Rule, reason: str) -> None:
        # All three in ``args``, so the exception survives pickling (a worker process's log).
        super().__init__(name, rule, reason)
        self.name = name
        self.rule = rule
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.name!r}: {self.reason}"


class NameTooLong(ForbiddenName):
    """A name or a path over a length limit (``ENAMETOOLONG``, as Linux answers one)."""

    errno: ClassVar[int] = ENAMETOOLONG


# " * : < > ? / \ | [R-doc table][A-util]. Business may also refuse # and %, but Microsoft's
# support page says they are allowed unless a tenant turns them off [D-addr]: not refused here.
_FORBIDDEN = frozenset('"*:<>?/\\|')
# C0 controls and DEL [A-util], which Windows refuses too (the service follows Windows' rules,
# [R-od]); a newline is one of them.
# abraunegg also refuses HTML entities (``&#38;``), but no source says the service does, so
# they are allowed here, as in the fake: refusing them would cost users real names.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Reserved names, case-insensitive, also with an extension ("CON.txt") [A-util, citing
# Microsoft's "Restrictions and limitations in OneDrive and SharePoint"]. So unlike a guess
# from "OneDrive is not Windows", ``con.txt`` is refused.
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in range(10)}
)
_RESERVED = frozenset({".lock", "desktop.ini"})


def check_name(name: str, *, drive: DriveKind) -> None:
    """Raise :class:`ForbiddenName` if OneDrive would refuse ``name`` as one item's name.

    Only the name: where it goes is :func:`check_path`'s question.
    """
    if name == "":
        raise ForbiddenName(name, Rule.EMPTY, "a name cannot be empty")
    if name in (".", ".."):
        raise ForbiddenName(
            name, Rule.DOT_NAME, f"{name!r} is not a name but a reference to a folder"
        )
    units = _utf16_units(name)
    if units is None:
        raise ForbiddenName(name, Rule.NOT_UNICODE, "the name is not valid Unicode text")
    if units > MAX_NAME_UNITS:
        raise NameTooLong(
            name,
            Rule.NAME_TOO_LONG,
            f"a name is at most {MAX_NAME_UNITS} characters; this one has {units}",
        )
    if char := next((c for c in name if c in _FORBIDDEN), None):
        raise ForbiddenName(
            name, Rule.FORBIDDEN_CHARACTER, f"OneDrive does not allow {char!r} in a name"
        )
    if control := _CONTROL.search(name):
        raise ForbiddenName(
            name,
            Rule.CONTROL_CHARACTER,
            f"OneDrive does not allow the control character U+{ord(control.group()):04X}",
        )
    # Only U+0020: the rule is Windows' [R-od encoder comment], which trims ASCII spaces only.
    if name[0] == " " or name[-1] == " ":
        raise ForbiddenName(name, Rule.EDGE_SPACE, "a name cannot begin or end with a space")
    if name[-1] == ".":
        raise ForbiddenName(name, Rule.TRAILING_DOT, "a name cannot end with a dot")
    folded = name.casefold()
    if folded.split(".", 1)[0] in _DEVICES or folded in _RESERVED:
        raise ForbiddenName(name, Rule.RESERVED_NAME, "OneDrive reserves this name")
    if name.startswith("~$"):
        raise ForbiddenName(
            name, Rule.RESERVED_PREFIX, "OneDrive reserves names beginning with '~$'"
        )
    if "_vti_" in folded:
        raise ForbiddenName(name, Rule.RESERVED_INFIX, "OneDrive reserves names containing '_vti_'")
    if drive is DriveKind.BUSINESS and name[0] == "~":  # [D-addr]
        raise ForbiddenName(
            name, Rule.LEADING_TILDE, "OneDrive for Business does not allow a leading '~'"
        )


def is_allowed(name: str, *, drive: DriveKind) -> bool:
    """Whether :func:`check_name` accepts ``name`` (for filters; use the check for a reason)."""
    try:
        check_name(name, drive=drive)
    except ForbiddenName:
        return False
    return True


def check_path(components: Sequence[str], *, drive: DriveKind) -> None:
    """Raise :class:`ForbiddenName` if OneDrive would refuse an item at this path.

    ``components`` are the names from the drive root down to the item itself
    (``["Documents", "a.txt"]``). Only what depends on the place is checked, the total length
    and the reserved top level; each name is :func:`check_name`'s business, and not checked
    again here, because the ancestors are already on the server under the names it accepted.
    """
    if drive is DriveKind.BUSINESS and components and components[0].casefold() == "forms":
        # "forms" at the top of a library is SharePoint's own folder of list forms (§8).
        raise ForbiddenName(
            components[0],
            Rule.RESERVED_TOP_LEVEL,
            "OneDrive for Business reserves 'forms' at the top of the drive",
        )
    path = "/".join(components)
    units = _utf16_units(path)
    if units is None:
        raise ForbiddenName(path, Rule.NOT_UNICODE, "the path is not valid Unicode text")
    limit = MAX_PATH_UNITS[drive]
    if units > limit:
        raise NameTooLong(
            path,
            Rule.PATH_TOO_LONG,
            f"a path on this drive is at most {limit} characters; this one has {units}",
        )


def check_component(name: str) -> None:
    """Raise :class:`ForbiddenName` if ``name`` is not safe as one path component.

    A ``/`` or a NUL would make it several components or cut it short, ``.`` and ``..`` would
    escape the folder, and a lone surrogate (JSON's ``"\\ud800"`` decodes to one) has no
    UTF-8 form to store or show. A name from the server that fails this is malformed data:
    the Graph client rejects the item. Length is not checked: see
    :func:`check_local_component`.
    """
    if name == "":
        raise ForbiddenName(name, Rule.EMPTY, "a path component cannot be empty")
    if name in (".", ".."):
        raise ForbiddenName(name, Rule.DOT_NAME, f"{name!r} would leave its folder")
    if "/" in name or "\0" in name:
        raise ForbiddenName(name, Rule.SEPARATOR, "a '/' or a NUL cannot be part of a file name")
    if _utf8_size(name) is None:
        raise ForbiddenName(name, Rule.NOT_UNICODE, "the name is not valid Unicode text")


def check_local_component(name: str) -> None:
    """Raise :class:`ForbiddenName` if ``name`` cannot be one path component on Linux.

    :func:`check_component`, plus ``NAME_MAX``: more than 255 bytes of UTF-8 cannot cross
    the kernel at all. A name legal on OneDrive can fail only the length (:class:`NameTooLong`),
    which is why the store, not the Graph client, applies this one: the item is real and is
    set aside with the reason rather than dropped.
    """
    check_component(name)
    size = _utf8_size(name) or 0
    if size > MAX_LOCAL_NAME_BYTES:
        raise NameTooLong(
            name,
            Rule.LOCAL_NAME_TOO_LONG,
            f"Linux allows {MAX_LOCAL_NAME_BYTES} bytes in a file name; this one needs {size}",
        )


def _utf8_size(text: str) -> int | None:
    """Length in bytes of UTF-8, or None when ``text`` holds a lone surrogate."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _utf16_units(text: str) -> int | None:
    """Length in UTF-16 code units, or None when ``text`` holds a lone surrogate."""
    try:
        return len(text.encode("utf-16-le")) // 2
    except UnicodeEncodeError:
        return None
