"""The sample drive: what a OneDrive a year into use looks like, small enough to seed in a second.

Deterministic (a fixed random seed), so the demo and the tests that use it see the same drive
every time: documents with readable text, photos and music as binary blobs, a nested project,
an empty file, names with spaces, accents, ``#`` and ``%`` (which need per-segment encoding),
a deep path, and one 5 MiB file that takes an upload-session-sized download.
"""

from __future__ import annotations

import random

from onemount.fakegraph.drive import FakeDrive

_TEXT = {
    "Documents/Welcome.txt": (
        "Welcome to your onemount sample drive.\n\n"
        "Every file here lives on the fake Graph server; onemount fetches a file's bytes only\n"
        "when something opens it, and sends your edits back.\n"
    ),
    "Documents/Shopping list.md": "# Shopping\n\n- coffee\n- bread\n- 2 lemons\n",
    "Documents/Taxes 2025/receipts.csv": "date,amount,what\n2025-03-01,12.50,pens\n",
    "Documents/Taxes 2025/Notes #1 (100% done).txt": "Filed on time.\n",
    "Documents/Résumé.txt": "Accents survive the round trip: é, ü, ñ, ø.\n",
    "Projects/onemount/README.md": "# onemount\n\nOneDrive files on demand for Linux.\n",
    "Projects/onemount/src/main.py": 'print("hello from the sample drive")\n',
    "Projects/onemount/src/deep/er/and/deeper/still.txt": "Seven levels down.\n",
}
_BINARY = {
    "Pictures/Holidays/beach.jpg": 180_000,
    "Pictures/Holidays/mountains.jpg": 240_000,
    "Pictures/avatar.png": 32_000,
    "Music/Band - Song.mp3": 900_000,
    "Videos/clip.bin": 5 * 1024 * 1024,
}
_EMPTY = ["Documents/empty.txt"]
_FOLDERS = ["Shared with me", "Projects/archive"]


def seed_sample(drive: FakeDrive) -> None:
    """Fill an empty drive with the sample tree."""
    rng = random.Random(20240501)
    for path, text in _TEXT.items():
        _put(drive, path, text.encode())
    for path, size in _BINARY.items():
        _put(drive, path, rng.randbytes(size))
    for path in _EMPTY:
        _put(drive, path, b"")
    for path in _FOLDERS:
        _folder(drive, path.split("/"))


def _put(drive: FakeDrive, path: str, data: bytes) -> None:
    *folders, name = path.split("/")
    drive.put_bytes(_folder(drive, folders), name, data)


def _folder(drive: FakeDrive, names: list[str]) -> str:
    """The id of the folder at ``names``, created as needed."""
    current = drive.root_id
    for name in names:
        existing = drive.child(current, name)
        current = existing.id if existing is not None else drive.create_folder(current, name).id
    return current
