"""What a user must see through the mount, and what the drive must hold once it is all sent.

Two pure functions, recomputed from scratch after every step of a conformance run, so the
model keeps no bookkeeping of its own that could drift (it never tracks what is "pending" or
"dirty" the way the runtime does; it only remembers what the user did):

* :func:`view`: the tree through the mount is what the runtime last knew of the drive (the
  drive as it was at the last quiet sync) with the user's operations since applied on top, in
  order. Nothing the server did since shows until the next sync.
* :func:`settle`: once every one of those operations has reached the server (and delta has
  brought back what others did meanwhile), the drive holds the service's current state with
  the user's operations merged in by the rules of docs/spec.md:

  - the user's bytes are never lost: a file written here whose server version changed since
    it was last seen keeps the server's version under its name and gets **a conflict copy**
    (``<stem> (conflict copy YYYY-MM-DD HHMMSS)<ext>``, our bytes) beside it; written here and
    deleted there, it is created again with our bytes;
  - **a remote edit beats a local delete** (the file comes back with the server's bytes);
  - **a local rename wins** over a rename there; a name the server has given to another item
    meanwhile makes ours move aside under a conflict name;
  - **a new item arriving on a name** we created here is our own item when it is the same
    folder, or a file with the same bytes (merged, adopted); anything else moves ours aside;
  - **a folder deleted there** comes back if it holds anything the server does not have (a
    new item, unsent bytes, an item moved into it); what it held that the server had is gone.

Items are keyed by the inode the mount shows them under (the user sees it in ``stat``; it
must never change), server items by their id. The only thing the model cannot know is the
exact second in a conflict copy's name: it predicts a pattern (:func:`copy_pattern`).

Imports nothing from onemount.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from models.drive import Entry

ROOT = 1  # the root's inode (FUSE's ROOT_INODE)

#: The part of a conflict copy's name the model does not predict: the stamp (and the counter
#: a second copy in the same second gets).
STAMP = r" \(conflict copy \d{4}-\d{2}-\d{2} \d{6}(?: \d+)?\)"


@dataclass(frozen=True)
class Node:
    """One item as the user sees it: under the folder of inode ``parent``."""

    name: str
    parent: int | None
    folder: bool
    content: bytes = b""


# -- what the user does, on inodes ------------------------------------------------------------


@dataclass(frozen=True)
class Create:
    ino: int
    parent: int
    name: str
    folder: bool


@dataclass(frozen=True)
class Write:
    """The file's whole content after the operation (a write, a truncate, O_TRUNC).

    ``base``: the server version the bytes were changed on top of, when the runtime had to
    fetch it first (a write into a file whose bytes were not here); None: the version it last
    knew. A conflict is a server version newer than the one the user's change started from.
    """

    ino: int
    content: bytes
    base: int | None = None


@dataclass(frozen=True)
class Rename:
    """A rename or move; over an existing item it replaces it (POSIX).

    ``takeover``: the replaced file keeps its inode and its server identity and takes our
    bytes, and ours goes (an editor's save of a new file over one the server has, docs on
    LocalOps.rename); the mount then shows the replaced file's inode under the name.
    """

    ino: int
    parent: int
    name: str
    takeover: bool = False


@dataclass(frozen=True)
class Delete:
    ino: int


Op = Create | Write | Rename | Delete


def key(name: str) -> str:
    """Names compare as OneDrive compares them: Unicode-normalised, ignoring case."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def occupant(tree: Mapping[int, Node], parent: int, name: str, besides: int) -> int | None:
    """The item of ``tree`` under ``parent`` called ``name`` (ignoring case), if any."""
    wanted = key(name)
    for ino, node in tree.items():
        if node.parent == parent and ino != besides and key(node.name) == wanted:
            return ino
    return None


def inside(tree: Mapping[int, Node], ino: int, ancestor: int) -> bool:
    current: int | None = ino
    while current is not None:
        if current == ancestor:
            return True
        current = tree[current].parent
    return False


def view(known: Mapping[int, Node], ops: Sequence[Op]) -> dict[int, Node]:
    """The tree through the mount: ``known`` with ``ops`` applied in order."""
    tree = dict(known)
    for op in ops:
        if isinstance(op, Create):
            tree[op.ino] = Node(op.name, op.parent, op.folder)
        elif isinstance(op, Write):
            tree[op.ino] = replace(tree[op.ino], content=op.content)
        elif isinstance(op, Delete):
            del tree[op.ino]
        else:
            moved = tree[op.ino]
            target = occupant(tree, op.parent, op.name, besides=op.ino)
            if target is not None and op.takeover:
                tree[target] = replace(tree[target], content=moved.content)
                del tree[op.ino]
                continue
            if target is not None:
                del tree[target]  # a file, or an empty folder
            tree[op.ino] = replace(moved, name=op.name, parent=op.parent)
    return tree


def paths(tree: Mapping[int, Node]) -> dict[str, int]:
    """``/a/b`` -> inode, for every item but the root."""

    def path(ino: int) -> str:
        node = tree[ino]
        if node.parent is None:
            return ""
        return f"{path(node.parent)}/{node.name}"

    return {path(ino): ino for ino, node in tree.items() if node.parent is not None}


# -- conflict names -----------------------------------------------------------------------------


def copy_pattern(name: str) -> re.Pattern[str]:
    """The names the runtime may give a conflict copy of ``name`` (the store's rule: the stamp
    goes before the last extension; a name without one, or a dot file, gets it at the end)."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    return re.compile(re.escape(stem) + STAMP + re.escape(dot + ext))


def is_copy_name(name: str) -> bool:
    return re.search(STAMP, name) is not None


Name = str | re.Pattern[str]


def name_matches(expected: Name, actual: str) -> bool:
    if isinstance(expected, str):
        return expected == actual
    return expected.fullmatch(actual) is not None


# -- what the drive holds once everything is sent -------------------------------------------


@dataclass(frozen=True)
class Expect:
    """One item the drive must hold: ``key`` is its server id, or ``new:N`` for an item the
    server will have under an id nobody knows yet; ``ino`` the inode the mount must show it
    under (None: one it had not handed out before); ``version`` the content version it keeps
    (None: a new one, our bytes)."""

    key: str
    name: Name
    parent: str | None
    folder: bool
    content: bytes
    ino: int | None
    version: int | None
    #: A conflict copy of bytes the server's version also holds: nothing is lost without it,
    #: so the runtime may make it (the conflict was seen first) or not (our upload was).
    optional: bool = False


def settle(
    drive: Mapping[str, Entry],
    root: str,
    known: Mapping[str, Entry],
    links: Mapping[int, str],
    ops: Sequence[Op],
) -> dict[str, Expect]:
    """The drive once ``ops`` are all sent: see the module docstring for the rules.

    ``drive`` is what the server holds now, ``known`` what the runtime last knew of it (the
    drive at the last quiet sync), ``links`` the inode of each item of ``known``.
    """
    return _Settle(drive, root, known, links, ops).run()


class _Settle:
    """:func:`settle`, in steps: the user's deletes, then every surviving local item placed
    parents first (created, moved, written), then the conflict copies."""

    def __init__(
        self,
        drive: Mapping[str, Entry],
        root: str,
        known: Mapping[str, Entry],
        links: Mapping[int, str],
        ops: Sequence[Op],
    ) -> None:
        self.known = known
        self.links = dict(links)
        self.ops = ops
        ino_of = {item_id: ino for ino, item_id in links.items()}
        self.base = {ino: _node(known[i], ino_of) for ino, i in links.items()}
        self.local = view(self.base, ops)
        self.wrote = {op.ino for op in ops if isinstance(op, Write)}
        for index, op in enumerate(ops):
            if isinstance(op, Rename) and op.takeover:
                before = view(self.base, ops[:index])
                target = occupant(before, op.parent, op.name, besides=op.ino)
                assert target is not None, f"takeover of nothing: {op}"
                self.wrote.add(target)
        self.renamed = {op.ino for op in ops if isinstance(op, Rename) and not op.takeover}
        self.bases: dict[int, int] = {}
        for op in reversed(ops):  # the first change of each file decides what it started from
            if isinstance(op, Write) and op.base is not None:
                self.bases[op.ino] = op.base
            elif isinstance(op, Write):
                self.bases.pop(op.ino, None)
        self.server = {
            i: Expect(i, e.name, e.parent, e.folder, e.content, ino_of.get(i), e.version)
            for i, e in drive.items()
        }
        self.placed: dict[int, str] = {ROOT: root}
        #: Server items the user moved: they leave their names, so they hold none until placed.
        self.moving: set[str] = set()
        self._new = 0

    def run(self) -> dict[str, Expect]:
        revived = self._deletes()
        for ino in self.renamed & (set(self.local) | revived):
            item_id = self.links.get(ino)
            if item_id is not None and item_id in self.server:
                self.moving.add(item_id)
        conflicts: list[tuple[int, Node]] = []
        for ino in self._parents_first():
            self._place(ino, conflicts)
        for ino in sorted(revived & self.renamed):
            self._place_revived(ino)
        for ino, node in conflicts:
            parent = self._ensure(node.parent)
            if parent is not None:
                same = any(
                    e.content == node.content and not e.folder and e.ino == ino
                    for e in self.server.values()
                )
                copy = Expect(self._fresh(), copy_pattern(node.name), parent, False, node.content,
                              None, None, optional=same)  # fmt: skip
                self.server[copy.key] = copy
        return self.server

    def _changed_there(self, ino: int, item_id: str) -> bool:
        """The server's version is not the one the user's change started from."""
        base = self.bases.get(ino, self.known[item_id].version)
        return self.server[item_id].version != base

    # -- deletes --------------------------------------------------------------------------------

    def _deletes(self) -> set[int]:
        """Apply the user's deletes; return the files that come back (changed there)."""
        deleted = [ino for ino in self.links if ino not in self.local and ino != ROOT]
        revived: set[int] = set()
        for ino in deleted:
            item_id = self.links[ino]
            if item_id not in self.server or self.known[item_id].folder:
                continue
            if self._changed_there(ino, item_id):
                revived.add(ino)
            else:
                del self.server[item_id]
        for ino in deleted:
            item_id = self.links[ino]
            if item_id in self.server and self.known[item_id].folder:
                self._remove_tree(item_id)
        return {ino for ino in revived if self.links[ino] in self.server}

    def _remove_tree(self, item_id: str) -> None:
        """A folder deleted on the server takes everything in it, except what the user moved
        out of it (those moves go first)."""
        for child in [c.key for c in self.server.values() if c.parent == item_id]:
            ino = self.server[child].ino
            if ino is not None and ino in self.local and self.links.get(ino) == child:
                continue
            self._remove_tree(child)
        del self.server[item_id]

    # -- placement ------------------------------------------------------------------------------

    def _parents_first(self) -> Iterator[int]:
        children: dict[int, list[int]] = {}
        for ino, node in self.local.items():
            if node.parent is not None:
                children.setdefault(node.parent, []).append(ino)
        stack = sorted(children.get(ROOT, []), reverse=True)
        while stack:
            ino = stack.pop()
            yield ino
            stack.extend(sorted(children.get(ino, []), reverse=True))

    def _place(self, ino: int, conflicts: list[tuple[int, Node]]) -> None:
        node = self.local[ino]
        item_id = self.links.get(ino)
        if item_id is None:  # created here
            self._create(ino, node)
            return
        if item_id not in self.server:  # gone from the server
            if not node.folder and ino in self.wrote:
                self._create(ino, node)  # created again, with our bytes
            return  # a folder comes back only for what it holds (_ensure)
        if ino in self.renamed:
            self._move(ino, item_id, node.parent, node.name)
        if ino in self.wrote and not node.folder:
            if self._changed_there(ino, item_id):
                conflicts.append((ino, node))
            else:
                self.server[item_id] = replace(self.server[item_id], content=node.content,
                                               version=None)  # fmt: skip

    def _place_revived(self, ino: int) -> None:
        """Renamed, then deleted here, but changed there: back, under the name it was given."""
        last = next(op for op in reversed(self.ops) if isinstance(op, Rename) and op.ino == ino)
        self._move(ino, self.links[ino], last.parent, last.name)

    def _move(self, ino: int, item_id: str, parent_ino: int | None, name: str) -> None:
        parent = self._ensure(parent_ino)
        if parent is None:
            return
        self.moving.discard(item_id)
        self._put(replace(self.server.pop(item_id), parent=parent), name, merge=False)
        self.placed[ino] = item_id

    def _ensure(self, parent_ino: int | None) -> str | None:
        """The server key of a local folder, created there again if the server lost it."""
        assert parent_ino is not None
        if parent_ino in self.placed:
            return self.placed[parent_ino]
        item_id = self.links.get(parent_ino)
        if item_id is not None and item_id in self.server:
            return item_id
        node = self.local.get(parent_ino)
        return None if node is None else self._create(parent_ino, node)

    def _create(self, ino: int, node: Node) -> str | None:
        parent = self._ensure(node.parent)
        if parent is None:
            return None
        new = Expect(self._fresh(), node.name, parent, node.folder, node.content, ino, None)
        placed = self._put(new, node.name, merge=True)
        self.placed[ino] = placed
        return placed

    def _put(self, item: Expect, name: str, *, merge: bool) -> str:
        """Place ``item`` under the name ``name``, or where the rules put it; its key after."""
        holder = self._holder(item.parent, name, besides=item.key)
        if holder is not None and merge:
            other = self.server[holder]
            same = other.folder and item.folder
            same = same or (not other.folder and not item.folder and other.content == item.content)
            if same:  # our own create, or a folder made on both sides: one item
                self.server[holder] = replace(other, ino=item.ino)
                return holder
        final: Name = name if holder is None else copy_pattern(name)
        self.server[item.key] = replace(item, name=final)
        return item.key

    def _holder(self, parent: str | None, name: str, besides: str) -> str | None:
        wanted = key(name)
        for item in self.server.values():
            if (
                item.parent == parent
                and item.key != besides
                and item.key not in self.moving
                and isinstance(item.name, str)
                and key(item.name) == wanted
            ):
                return item.key
        return None

    def _fresh(self) -> str:
        self._new += 1
        return f"new:{self._new}"


def _node(entry: Entry, ino_of: Mapping[str, int]) -> Node:
    parent = None if entry.parent is None else ino_of[entry.parent]
    return Node(entry.name, parent, entry.folder, entry.content)


# -- holding the drive to the expectation -----------------------------------------------------


class Mismatch(AssertionError):
    """The drive is not what :func:`settle` said it must be."""


def match(expected: Mapping[str, Expect], actual: Mapping[str, Entry], root: str) -> dict[str, str]:
    """Pair each expected item with the drive's item (``key -> id``), or raise Mismatch.

    Known ids must be there as expected; a new item is any unpaired item of the drive under
    the same parent with the same kind, bytes and name (a conflict copy's by its pattern).
    """
    paired: dict[str, str] = {root: root}
    taken = {root}
    problems: list[str] = []
    for item in _expected_parents_first(expected, root):
        parent = paired.get(item.parent or "")
        if parent is None:
            problems.append(f"{_describe(item)}: its folder is not there")
            continue
        if not item.key.startswith("new:"):
            found = actual.get(item.key)
            if found is None or not _same(item, found, parent):
                problems.append(f"{_describe(item)}: the drive has {found}")
                continue
            paired[item.key] = item.key
            taken.add(item.key)
            continue
        candidates = sorted(
            i for i, e in actual.items() if i not in taken and _same(item, e, parent)
        )
        if not candidates:
            if not item.optional:
                problems.append(f"{_describe(item)}: not on the drive")
            continue
        paired[item.key] = candidates[0]
        taken.add(candidates[0])
    extra = sorted(f"{i}: {e}" for i, e in actual.items() if i not in taken)
    if extra:
        problems.append(f"the drive also holds {extra}")
    if problems:
        raise Mismatch("the drive is not as the model says:\n  " + "\n  ".join(problems))
    return paired


def _same(item: Expect, entry: Entry, parent: str) -> bool:
    return (
        entry.parent == parent
        and entry.folder == item.folder
        and name_matches(item.name, entry.name)
        and (item.folder or entry.content == item.content)
    )


def _describe(item: Expect) -> str:
    name = item.name if isinstance(item.name, str) else f"/{item.name.pattern}/"
    kind = "folder" if item.folder else f"file of {item.content!r}"
    return f"{item.key} {name!r} ({kind}) in {item.parent}"


def _expected_parents_first(expected: Mapping[str, Expect], root: str) -> Iterator[Expect]:
    """Every expected item after its parent; those under no expected parent last (they are
    reported as such)."""
    children: dict[str, list[Expect]] = {}
    for item in expected.values():
        if item.key != root:
            children.setdefault(item.parent or "", []).append(item)
    seen: set[str] = set()
    stack = sorted(children.get(root, []), key=lambda e: e.key, reverse=True)
    while stack:
        item = stack.pop()
        seen.add(item.key)
        yield item
        stack.extend(sorted(children.get(item.key, []), key=lambda e: e.key, reverse=True))
    yield from (e for e in expected.values() if e.key != root and e.key not in seen)


__all__ = [
    "ROOT",
    "Create",
    "Delete",
    "Expect",
    "Mismatch",
    "Node",
    "Op",
    "Rename",
    "Write",
    "copy_pattern",
    "is_copy_name",
    "key",
    "match",
    "name_matches",
    "occupant",
    "paths",
    "settle",
    "view",
]
