"""Names in the store: the case-folded key that makes lookups case-insensitive, and validation.

OneDrive compares names case-insensitively and macOS/Windows clients produce NFD names, so two
spellings of one name must collide: the key is NFC, case-folded, NFC again (case folding can
produce decomposed sequences). Uniqueness of live names among siblings is checked on that key
when a transaction commits (see the manager).

Validation is :mod:`onemount.names`': a name from the server must be a path component Linux can
show (:func:`remote_name`), a name from the user must also be one OneDrive accepts
(:func:`local_name`; the manager applies the drive's own rules before the effects run).
"""

from __future__ import annotations

import unicodedata

from onemount.names import DriveKind, ForbiddenName, check_local_component, check_name

#: What the store raises for a name it will not store (the FUSE layer maps ``errno``).
InvalidName = ForbiddenName


def name_key(name: str) -> str:
    """The key lookups and the uniqueness check compare: NFC, case-folded."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def remote_name(name: str) -> str:
    """``name`` unchanged, or :class:`InvalidName` if it cannot be a Linux path component."""
    check_local_component(name)
    return name


def local_name(name: str) -> str:
    """A name the user gave: a Linux component (OneDrive's rules are checked by the manager)."""
    check_local_component(name)
    return name


def check_user_name(name: str, drive: DriveKind) -> None:
    """The name the user gave must be one OneDrive accepts on this kind of drive."""
    check_local_component(name)
    check_name(name, drive=drive)


__all__ = ["InvalidName", "check_user_name", "local_name", "name_key", "remote_name"]
