"""Names: the case-folded key that makes lookups case-insensitive, and name validation.

OneDrive compares names case-insensitively and macOS/Windows clients produce NFD names, so two
spellings of one name must collide in the unique index: the key is NFC, case-folded, NFC again
(case folding can produce decomposed sequences).
"""

from __future__ import annotations

import unicodedata


class InvalidName(ValueError):
    """A name that must never become a path component (from the server or from a caller)."""


def name_key(name: str) -> str:
    """The key the unique index and :func:`lookup` compare: NFC, case-folded."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def validated(name: str) -> str:
    """``name`` unchanged, or :class:`InvalidName` if it could escape its directory."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise InvalidName(f"invalid item name {name!r}")
    return name
