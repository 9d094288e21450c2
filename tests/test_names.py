"""OneDrive's naming rules and Linux's component rule, both sides of every limit.

Each rule's source is in ``onemount/names.py`` (graph-api.md §8, §13).
"""

from __future__ import annotations

import errno
import pickle
import unicodedata

import pytest

from onemount.names import (
    MAX_PATH_UNITS,
    DriveKind,
    ForbiddenName,
    NameTooLong,
    Rule,
    check_component,
    check_local_component,
    check_name,
    check_path,
    is_allowed,
)

BOTH = pytest.mark.parametrize("drive", list(DriveKind))
EMOJI = "\N{PARTY POPPER}"  # U+1F389: outside the BMP, two UTF-16 code units
CJK = "\N{CJK UNIFIED IDEOGRAPH-6587}"  # 文: one code unit, three bytes of UTF-8


def refused(name: str, drive: DriveKind = DriveKind.PERSONAL) -> ForbiddenName:
    with pytest.raises(ForbiddenName) as raised:
        check_name(name, drive=drive)
    assert not is_allowed(name, drive=drive)
    assert raised.value.name == name
    return raised.value


def allowed(name: str, drive: DriveKind = DriveKind.PERSONAL) -> None:
    check_name(name, drive=drive)
    assert is_allowed(name, drive=drive)


# -- characters --------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("char", list('"*:<>?/\\|'))
def test_each_forbidden_character_is_refused_anywhere_in_a_name(
    char: str, drive: DriveKind
) -> None:
    for name in (f"{char}a", f"a{char}b", f"a{char}"):
        error = refused(name, drive)
        assert error.rule is Rule.FORBIDDEN_CHARACTER and error.errno == errno.EINVAL
        assert repr(char) in error.reason


@BOTH
@pytest.mark.parametrize("char", ["\0", "\x01", "\t", "\n", "\r", "\x1f", "\x7f"])
def test_control_characters_and_nul_are_refused(char: str, drive: DriveKind) -> None:
    error = refused(f"a{char}b", drive)
    assert error.rule is Rule.CONTROL_CHARACTER
    assert f"U+{ord(char):04X}" in error.reason


@BOTH
@pytest.mark.parametrize(
    "name", ["50% off.txt", "#1 hits.mp3", "a&b.txt", "Tom &#38; Jerry.txt", "é\x80"]
)
def test_characters_some_clients_refuse_are_allowed(name: str, drive: DriveKind) -> None:
    """``#`` and ``%`` are allowed on Business too unless a tenant turns them off (§8); an
    HTML entity is refused by abraunegg's client but by no source about the service; C1
    controls are in no source's list."""
    allowed(name, drive)


def test_a_lone_surrogate_is_not_a_name() -> None:
    """JSON's ``"\\ud800"`` decodes to one; it cannot be sent or stored as UTF-8."""
    assert refused("a\ud800b").rule is Rule.NOT_UNICODE


# -- spaces and dots ---------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("name", [" a", "a ", " ", "  a  "])
def test_a_leading_or_trailing_space_is_refused(name: str, drive: DriveKind) -> None:
    assert refused(name, drive).rule is Rule.EDGE_SPACE


@BOTH
@pytest.mark.parametrize("name", ["a b", "a\u00a0", "\u3000a"])
def test_inner_spaces_and_non_ascii_spaces_at_the_edges_are_allowed(
    name: str, drive: DriveKind
) -> None:
    """Windows trims U+0020 only, and that is the rule the service applies (§8)."""
    allowed(name, drive)


@BOTH
@pytest.mark.parametrize("name", ["a.", "folder.", "...", "a.b."])
def test_a_trailing_dot_is_refused(name: str, drive: DriveKind) -> None:
    assert refused(name, drive).rule is Rule.TRAILING_DOT


@BOTH
@pytest.mark.parametrize("name", [".bashrc", "a.b", ".a.b", "..a"])
def test_leading_and_inner_dots_are_allowed(name: str, drive: DriveKind) -> None:
    allowed(name, drive)


@BOTH
def test_empty_and_dot_names_are_refused(drive: DriveKind) -> None:
    assert refused("", drive).rule is Rule.EMPTY
    assert refused(".", drive).rule is Rule.DOT_NAME
    assert refused("..", drive).rule is Rule.DOT_NAME


# -- reserved names ----------------------------------------------------------------------------

DEVICES = ["CON", "PRN", "AUX", "NUL"] + [f"{d}{n}" for d in ("COM", "LPT") for n in range(10)]


@BOTH
@pytest.mark.parametrize("device", DEVICES)
def test_device_names_are_reserved_in_any_case_and_with_an_extension(
    device: str, drive: DriveKind
) -> None:
    """Microsoft's list reserves ``CON.txt`` as well as ``CON`` (§8, [A-util]): ``con.txt``
    is refused although Linux and the service's own storage would not mind."""
    for name in (device, device.lower(), device.capitalize(), f"{device}.txt", f"{device}.a.b"):
        assert refused(name, drive).rule is Rule.RESERVED_NAME, name


@BOTH
@pytest.mark.parametrize("name", [".lock", ".LOCK", "desktop.ini", "Desktop.INI"])
def test_lock_and_desktop_ini_are_reserved(name: str, drive: DriveKind) -> None:
    assert refused(name, drive).rule is Rule.RESERVED_NAME


@BOTH
@pytest.mark.parametrize(
    "name",
    ["COM10", "LPT", "CONSOLE", "icon.png", "con-notes.txt", "my.lock", "desktop.ini.bak", "xCON"],
)
def test_names_that_only_look_reserved_are_allowed(name: str, drive: DriveKind) -> None:
    allowed(name, drive)


@BOTH
def test_a_tilde_dollar_prefix_and_vti_anywhere_are_reserved(drive: DriveKind) -> None:
    assert refused("~$report.docx", drive).rule is Rule.RESERVED_PREFIX
    for name in ("_vti_cnf", "my_VTI_file", "a_vti_"):
        assert refused(name, drive).rule is Rule.RESERVED_INFIX
    for name in ("a~$b", "_vti", "vti_", "_v_ti_"):
        allowed(name, drive)


def test_a_leading_tilde_is_refused_on_business_only() -> None:
    """[D-addr]: "On Business, names can't begin with ``~``"; personal drives take them."""
    allowed("~notes.txt", DriveKind.PERSONAL)
    assert refused("~notes.txt", DriveKind.BUSINESS).rule is Rule.LEADING_TILDE
    allowed("notes~.txt", DriveKind.BUSINESS)


# -- name length -------------------------------------------------------------------------------


@BOTH
def test_the_name_limit_is_255_characters(drive: DriveKind) -> None:
    allowed("a" * 254, drive)
    allowed("a" * 255, drive)
    error = refused("a" * 256, drive)
    assert isinstance(error, NameTooLong) and error.rule is Rule.NAME_TOO_LONG
    assert error.errno == errno.ENAMETOOLONG
    assert "255" in error.reason and "256" in error.reason


def test_an_emoji_counts_as_two_characters() -> None:
    """Counted in UTF-16 code units, as the .NET service stores strings (see names.py)."""
    allowed(EMOJI * 127 + "a")  # 255 units
    assert refused(EMOJI * 128).rule is Rule.NAME_TOO_LONG  # 128 code points, 256 units
    assert refused("a" * 254 + EMOJI).rule is Rule.NAME_TOO_LONG


def test_names_are_measured_as_given_not_normalised() -> None:
    """NFC "é" is one character, NFD "é" two: the service stores names as it receives them."""
    nfc = "\N{LATIN SMALL LETTER E WITH ACUTE}" * 200
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc and len(nfd) == 400
    allowed(nfc)
    assert refused(nfd).rule is Rule.NAME_TOO_LONG
    allowed(unicodedata.normalize("NFD", "\N{LATIN SMALL LETTER E WITH ACUTE}" * 127) + "a")


# -- path length and place ---------------------------------------------------------------------


def path_of(units: int) -> list[str]:
    """Components of 100 characters (the last shorter) joined by "/" to exactly ``units``."""
    parts: list[str] = []
    left = units
    while left > 0:
        size = min(100, left)
        parts.append("p" * size)
        left -= size + 1  # the separator before the next one
    assert len("/".join(parts)) == units
    return parts


@pytest.mark.parametrize(("drive", "limit"), [(DriveKind.PERSONAL, 430), (DriveKind.BUSINESS, 399)])
def test_the_path_limit_at_its_boundary(drive: DriveKind, limit: int) -> None:
    """Personal allows 430 characters, Business "fewer than 400" (§8, §13): each limit is
    accepted exactly and refused one character beyond it, the separators counted."""
    assert MAX_PATH_UNITS[drive] == limit
    check_path(path_of(limit - 1), drive=drive)
    check_path(path_of(limit), drive=drive)
    with pytest.raises(NameTooLong) as raised:
        check_path(path_of(limit + 1), drive=drive)
    assert raised.value.rule is Rule.PATH_TOO_LONG and raised.value.errno == errno.ENAMETOOLONG
    assert str(limit) in raised.value.reason


def test_400_characters_fit_a_personal_drive_but_not_a_business_one() -> None:
    check_path(path_of(400), drive=DriveKind.PERSONAL)
    with pytest.raises(NameTooLong):
        check_path(path_of(400), drive=DriveKind.BUSINESS)


def test_an_emoji_in_a_path_counts_as_two() -> None:
    check_path(["p" * 396, EMOJI], drive=DriveKind.BUSINESS)  # 396 + 1 + 2 = 399
    with pytest.raises(NameTooLong):  # 400 units, though only 399 code points
        check_path(["p" * 397, EMOJI], drive=DriveKind.BUSINESS)


def test_the_root_and_short_paths_pass() -> None:
    for drive in DriveKind:
        check_path([], drive=drive)
        check_path(["Documents", "a.txt"], drive=drive)


def test_forms_at_the_top_of_a_business_drive_is_reserved() -> None:
    """SharePoint keeps its list forms in ``Forms`` at the top of a library (§8)."""
    for name in ("forms", "Forms", "FORMS"):
        with pytest.raises(ForbiddenName) as raised:
            check_path([name], drive=DriveKind.BUSINESS)
        assert raised.value.rule is Rule.RESERVED_TOP_LEVEL
        with pytest.raises(ForbiddenName):
            check_path([name, "a.txt"], drive=DriveKind.BUSINESS)
    check_path(["Documents", "Forms"], drive=DriveKind.BUSINESS)
    check_path(["Forms.txt"], drive=DriveKind.BUSINESS)
    check_path(["Forms"], drive=DriveKind.PERSONAL)


# -- Linux's own rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", Rule.EMPTY),
        (".", Rule.DOT_NAME),
        ("..", Rule.DOT_NAME),
        ("a/b", Rule.SEPARATOR),
        ("/", Rule.SEPARATOR),
        ("a\0b", Rule.SEPARATOR),
        ("a\udcffb", Rule.NOT_UNICODE),
    ],
)
def test_a_name_that_cannot_be_one_linux_component(name: str, rule: Rule) -> None:
    for check in (check_component, check_local_component):
        with pytest.raises(ForbiddenName) as raised:
            check(name)
        assert raised.value.rule is rule and raised.value.errno == errno.EINVAL
        assert not isinstance(raised.value, NameTooLong)


def test_linux_counts_bytes_of_utf8() -> None:
    check_local_component("a" * 255)
    check_local_component(CJK * 85)  # 255 bytes
    for name in ("a" * 256, CJK * 86, "a" * 253 + CJK):
        with pytest.raises(NameTooLong) as raised:
            check_local_component(name)
        assert raised.value.rule is Rule.LOCAL_NAME_TOO_LONG
        assert raised.value.errno == errno.ENAMETOOLONG


def test_a_legal_onedrive_name_can_still_be_too_long_to_show() -> None:
    """255 CJK characters are a valid OneDrive name and 765 bytes: the store sets it aside,
    so the Graph client's safety check lets it through."""
    name = CJK * 255
    check_name(name, drive=DriveKind.PERSONAL)
    check_component(name)
    with pytest.raises(NameTooLong, match="765"):
        check_local_component(name)


def test_names_onedrive_refuses_are_still_fine_on_linux() -> None:
    for name in ("a:b", "CON", "trailing.", " lead", "~$x", "a" * 255):
        check_local_component(name)


# -- the exception -----------------------------------------------------------------------------


def test_the_error_is_a_value_error_that_reads_well_and_pickles() -> None:
    error = refused("a:b")
    assert isinstance(error, ValueError)
    assert str(error) == "'a:b': OneDrive does not allow ':' in a name"
    again = pickle.loads(pickle.dumps(error))
    assert (again.name, again.rule, again.reason, str(again)) == (
        error.name,
        error.rule,
        error.reason,
        str(error),
    )
    too_long = pickle.loads(pickle.dumps(refused("a" * 256)))
    assert isinstance(too_long, NameTooLong) and too_long.errno == errno.ENAMETOOLONG
