"""A OneDrive drive as plain Python: what the service holds, with none of how it serves it.

The reference the conformance runs hold the fake (and later the whole runtime) against. It
knows the rules a user can observe: names unique per folder ignoring case, a folder cannot move
into itself, deleting a folder deletes everything in it; and nothing else (no tags, no
sequence numbers, no paging). It imports nothing from onemount, so a bug there cannot leak here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A drive (or any tree of entries) as a user compares it: path -> bytes, ``None`` for a folder.
Tree = dict[str, bytes | None]


@dataclass(frozen=True)
class Entry:
    """What a client should end up knowing about one live item."""

    name: str
    parent: str | None
    folder: bool
    content: bytes = b""
    #: Which version of the content this is: every new content gets a new number, even the
    #: same bytes again (the service gives it a new cTag, which is how clients tell).
    version: int = 0


class NameTaken(Exception):
    """Another live item in the folder has this name, compared ignoring case."""


class NotAllowed(Exception):
    """The operation makes no sense (a folder into itself, a file as a parent, the root)."""


class DriveModel:
    def __init__(self, root_id: str) -> None:
        self.root_id = root_id
        self.entries: dict[str, Entry] = {root_id: Entry("root", None, True)}

    def copy(self) -> DriveModel:
        other = DriveModel(self.root_id)
        other.entries = dict(self.entries)
        return other

    def children(self, parent: str) -> dict[str, Entry]:
        return {i: e for i, e in self.entries.items() if e.parent == parent}

    def clash(self, parent: str, name: str, moving: str | None = None) -> str | None:
        """The id of the live item in ``parent`` named ``name`` ignoring case, if any."""
        key = name.casefold()
        for item_id, entry in self.children(parent).items():
            if entry.name.casefold() == key and item_id != moving:
                return item_id
        return None

    def inside(self, item_id: str, ancestor: str) -> bool:
        current: str | None = item_id
        while current is not None:
            if current == ancestor:
                return True
            current = self.entries[current].parent
        return False

    def path_of(self, item_id: str) -> str:
        """``/a/b`` for an item (``""`` for the root)."""
        parts: list[str] = []
        current = item_id
        while current != self.root_id:
            entry = self.entries[current]
            parts.append(entry.name)
            assert entry.parent is not None
            current = entry.parent
        return "".join(f"/{name}" for name in reversed(parts))

    def tree(self) -> Tree:
        """Every live item but the root by path."""
        return {
            self.path_of(i): None if e.folder else e.content
            for i, e in self.entries.items()
            if i != self.root_id
        }

    # -- what the service does, or refuses ---------------------------------------------------

    def check_create(self, parent: str, name: str) -> None:
        if not self.entries[parent].folder:
            raise NotAllowed(f"{parent} is not a folder")
        if self.clash(parent, name) is not None:
            raise NameTaken(name)

    def create(
        self,
        item_id: str,
        parent: str,
        name: str,
        *,
        folder: bool,
        content: bytes = b"",
        version: int = 0,
    ) -> None:
        self.check_create(parent, name)
        self.entries[item_id] = Entry(name, parent, folder, content, version)

    def replace(self, item_id: str, content: bytes, version: int = 0) -> None:
        entry = self.entries[item_id]
        if entry.folder:
            raise NotAllowed("a folder has no content")
        self.entries[item_id] = Entry(entry.name, entry.parent, False, content, version)

    def check_move(self, item_id: str, *, name: str, parent: str) -> None:
        if item_id == self.root_id:
            raise NotAllowed("the root stays where it is")
        if not self.entries[parent].folder or self.inside(parent, item_id):
            raise NotAllowed("a folder cannot move into itself or under a file")
        if self.clash(parent, name, moving=item_id) is not None:
            raise NameTaken(name)

    def move(self, item_id: str, *, name: str, parent: str) -> None:
        self.check_move(item_id, name=name, parent=parent)
        entry = self.entries[item_id]
        self.entries[item_id] = Entry(name, parent, entry.folder, entry.content, entry.version)

    def delete(self, item_id: str) -> set[str]:
        """Delete the item and everything below it; the ids that are gone."""
        if item_id == self.root_id:
            raise NotAllowed("the root cannot be deleted")
        gone = {i for i in self.entries if self.inside(i, item_id)}
        for i in gone:
            del self.entries[i]
        return gone
