"""The system conformance run: random work on both sides, the real runtime held to the model.

:class:`SystemMachine` is a Hypothesis ``RuleBasedStateMachine``. Its rules act through the
mount (the operations layer of :mod:`.system_support`, as the kernel calls it), as another
device (the fake's admin API), and on the world (the server going away and coming back,
throttling, dropped connections, crashes, eviction, pins, delta pages split, shuffled and
repeated). Its model is plain data (``models/``): the drive as the service holds it, the
drive as the runtime last knew it, and the user's operations since; the view and the settled
drive are recomputed from those after every step, never kept.

After every step:

* the fake's drive is exactly the model's drive (by id: name, parent, kind, bytes);
* between syncs, the mount shows exactly :func:`models.local.view` (by inode: names,
  parents, kinds, sizes, cached bytes, the server hash a ghost will fetch), so an inode never
  changes under an item;
* after an online step that changed something the runtime is brought to a quiet sync and the
  drive must be :func:`models.local.settle`'s (conflict copies by their name pattern and their
  bytes), no acknowledged write lost (each is on the server under its name or in a conflict
  copy beside it), the mount equal to the drive path for path and byte for byte, and every
  item the model knew under the inode it had;
* every row satisfies its state's invariants (spec/) and the journal holds only transitions the
  spec declares.

Rules take plain values (indices into the model's sorted lists, names, bytes), so the shrunk
sequence Hypothesis prints is Python that replays as is: that is how the named regression
cases in ``tests/model/regressions`` are written.
"""

from __future__ import annotations

import errno
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from models.drive import DriveModel, Entry, NameTaken, NotAllowed
from models.local import (
    ROOT,
    STAMP,
    Create,
    Delete,
    Node,
    Op,
    Rename,
    Write,
    copy_pattern,
    match,
    name_matches,
    occupant,
    paths,
    settle,
    view,
)
from onemount.fakegraph import FakeDrive, FaultRule
from onemount.quickxorhash import quickxorhash_b64
from tests.model.system_support import Outcome, Seen, System

NAMES = ["a", "A", "b.txt", "B.TXT", "notes", "x.md"]
CONTENT = st.sampled_from([b"", b"x", b"hello", b"HELLO", b"0123456789"]) | st.binary(max_size=24)
INDEX = st.integers(0, 63)
#: The drive every example starts from (made through the fake before the first mount).
SEED: list[tuple[str, bytes | None]] = [
    ("/docs", None),
    ("/docs/old", None),
    ("/docs/a", b"alpha"),
    ("/docs/old/b.txt", b"bravo bravo"),
    ("/notes", b"first notes"),
]
FAULTS = ["throttle", "drop_download", "drop_upload", "drop_delta"]


def fake_entries(drive: FakeDrive) -> dict[str, Entry]:
    """Every live item of the fake's drive, read in process (works while it is stopped)."""
    found = {drive.root_id: Entry("root", None, True)}
    pending = [drive.root_id]
    while pending:
        parent = pending.pop()
        for item in drive.children(parent, None, 100_000):
            content = b"" if item.is_folder else drive.read_all(item.id)
            found[item.id] = Entry(item.name, parent, item.is_folder, content)
            if item.is_folder:
                pending.append(item.id)
    return found


def _plain(entries: Mapping[str, Entry]) -> dict[str, tuple[str, str | None, bool, bytes]]:
    return {i: (e.name, e.parent, e.folder, e.content) for i, e in entries.items()}


class SystemMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="onemount-system-"))
        self.system: System | None = None
        self.drive = DriveModel("")
        self.known: dict[str, Entry] = {}
        self.links: dict[int, str] = {}
        self.ops: list[Op] = []
        self.versions = 0
        self.retired: set[int] = set()
        self.armed: list[FaultRule] = []
        self.history: dict[str, set[bytes]] = {}  # every content each server file has had
        self.log: list[str] = []

    # -- the model's values --------------------------------------------------------------------

    def _version(self) -> int:
        self.versions += 1
        return self.versions

    def known_tree(self) -> dict[int, Node]:
        ino_of = {i: ino for ino, i in self.links.items()}
        tree = {}
        for ino, item_id in self.links.items():
            e = self.known[item_id]
            parent = None if e.parent is None else ino_of[e.parent]
            tree[ino] = Node(e.name, parent, e.folder, e.content)
        return tree

    def local(self) -> dict[int, Node]:
        """What the mount must show now."""
        return view(self.known_tree(), self.ops)

    # Items are chosen by index into a list in path order (conflict stamps left out): inode
    # numbers and server ids depend on timing and chance, and Hypothesis needs the same
    # choices to pick the same items every time.

    def _local_order(self, want: Callable[[Node], bool]) -> list[int]:
        tree = self.local()
        by_path = {ino: p for p, ino in paths(tree).items()} | {ROOT: ""}
        chosen = [ino for ino, node in tree.items() if want(node)]
        return sorted(chosen, key=lambda ino: re.sub(STAMP, "", by_path[ino]))

    def _remote_order(self, want: Callable[[Entry], bool]) -> list[str]:
        drive = self.drive
        chosen = [i for i, e in drive.entries.items() if want(e)]
        return sorted(chosen, key=lambda i: re.sub(STAMP, "", drive.path_of(i)))

    def _folders(self) -> list[int]:
        return self._local_order(lambda n: n.folder)

    def _files(self) -> list[int]:
        return self._local_order(lambda n: not n.folder)

    def _items(self) -> list[int]:
        return self._local_order(lambda n: n.parent is not None)

    @staticmethod
    def _pick(items: list[Any], index: int) -> Any:
        return items[index % len(items)]

    @property
    def sys(self) -> System:
        assert self.system is not None
        return self.system

    @property
    def online(self) -> bool:
        return self.sys.online

    # -- start ---------------------------------------------------------------------------------

    @initialize(
        mode=st.sampled_from(["personal", "business"]),
        page=st.integers(1, 4),
        shuffle=st.booleans(),
        repeat=st.booleans(),
        order=st.integers(0, 2**16),
    )
    def start(
        self,
        mode: Literal["personal", "business"],
        page: int,
        shuffle: bool,
        repeat: bool,
        order: int,
    ) -> None:
        self.system = System(self.tmp, mode=mode)
        drive = self.sys.drive
        drive._rng.seed(order)  # the shuffled delta order is part of the example
        by_path = {"": drive.root_id}
        for path, content in SEED:
            folder, _, name = path.rpartition("/")
            parent = by_path[folder]
            if content is None:
                by_path[path] = drive.create_folder(parent, name).id
            else:
                drive.put_bytes(parent, name, content)
        self.sys.set_delta(page=page, shuffle=shuffle, repeat=repeat)
        self.drive = DriveModel(drive.root_id)
        for item_id, e in fake_entries(drive).items():
            self.drive.entries[item_id] = replace(e, version=0 if e.folder else self._version())
        self.known = {drive.root_id: self.drive.entries[drive.root_id]}
        self.links = {ROOT: drive.root_id}
        self.sys.start()
        self._quiet()

    def teardown(self) -> None:
        try:
            if self.system is not None:
                self.system.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- through the mount ---------------------------------------------------------------------

    @rule(parent=INDEX, name=st.sampled_from(NAMES), content=CONTENT)
    def create_file(self, parent: int, name: str, content: bytes) -> None:
        folder = self._pick(self._folders(), parent)
        done = self.sys.create(folder, name, content)
        if occupant(self.local(), folder, name, besides=-1) is not None:
            self._expect(done, errno.EEXIST)
            return self._after(changed=False)
        ino = self._made(done)
        self.ops += [Create(ino, folder, name, False), Write(ino, content)]
        self._after()

    @rule(parent=INDEX, name=st.sampled_from(NAMES))
    def make_folder(self, parent: int, name: str) -> None:
        folder = self._pick(self._folders(), parent)
        done = self.sys.mkdir(folder, name)
        if occupant(self.local(), folder, name, besides=-1) is not None:
            self._expect(done, errno.EEXIST)
            return self._after(changed=False)
        self.ops.append(Create(self._made(done), folder, name, True))
        self._after()

    @precondition(lambda self: self._files())
    @rule(file=INDEX, content=CONTENT)
    def overwrite(self, file: int, content: bytes) -> None:
        """``open(O_TRUNC)``, write, close: no download needed, even offline."""
        ino = self._pick(self._files(), file)
        content = self._ours(ino, content)
        self._expect(self.sys.write(ino, 0, content, truncate=True))
        self.ops.append(Write(ino, content))
        self._after()

    @precondition(lambda self: self._files())
    @rule(file=INDEX, offset=st.integers(0, 12), data=st.binary(min_size=1, max_size=8))
    def write_into(self, file: int, offset: int, data: bytes) -> None:
        """A write into the middle of a file: its bytes must be here first."""
        ino = self._pick(self._files(), file)
        base = self._base_for_change(ino)
        if base is not None:
            content, version = base
            new = content[:offset].ljust(offset, b"\0") + data + content[offset + len(data) :]
            if self._ours(ino, new) != new:
                return self._after(changed=False)
        done = self.sys.write(ino, offset, data, truncate=False)
        if base is None:
            return self._refused(done, ino)
        self._expect(done)
        self.ops.append(Write(ino, new, version))
        self._after()

    @precondition(lambda self: self._files())
    @rule(file=INDEX, size=st.integers(0, 12))
    def truncate(self, file: int, size: int) -> None:
        ino = self._pick(self._files(), file)
        if size == 0:  # an overwrite: nothing to download
            self._expect(self.sys.truncate(ino, 0))
            self.ops.append(Write(ino, b""))
            return self._after()
        base = self._base_for_change(ino)
        if base is not None:
            content, version = base
            new = content[:size].ljust(size, b"\0")
            if self._ours(ino, new) != new:
                return self._after(changed=False)
        done = self.sys.truncate(ino, size)
        if base is None:
            return self._refused(done, ino)
        self._expect(done)
        self.ops.append(Write(ino, new, version))
        self._after()

    @precondition(lambda self: self._files())
    @rule(file=INDEX)
    def read(self, file: int) -> None:
        ino = self._pick(self._files(), file)
        base = self._base_for_change(ino)
        done = self.sys.read(ino)
        if base is None:
            return self._refused(done, ino)
        self._expect(done)
        assert done.value == base[0], f"read {ino}: {done.value!r}, the model says {base[0]!r}"
        stale = base[1] is not None and base[1] != self.known[self.links[ino]].version
        self._after(changed=stale)  # fetching a newer version than it knew brings delta

    @precondition(lambda self: self._items())
    @rule(item=INDEX, parent=INDEX, name=st.sampled_from(NAMES))
    def rename(self, item: int, parent: int, name: str) -> None:
        ino = self._pick(self._items(), item)
        folder = self._pick(self._folders(), parent)
        self._rename(ino, folder, name)

    def _rename(self, ino: int, folder: int, name: str) -> None:
        tree = self.local()
        node = tree[ino]
        done = self.sys.rename(node.parent or ROOT, node.name, folder, name)
        target = occupant(tree, folder, name, besides=ino)
        if (node.parent, node.name) == (folder, name):
            self._expect(done)
            return self._after(changed=False)
        refused = self._rename_refusal(tree, ino, folder, name, target)
        if refused:
            assert done.errno in refused, f"expected one of {_codes(refused)}, got {done}"
            return self._after(changed=False)
        self._expect(done)
        takeover = (
            target is not None
            and not node.folder
            and not tree[target].folder
            and ino not in self.links
            and target in self.links
        )
        self.ops.append(Rename(ino, folder, name, takeover))
        self._after()

    def _rename_refusal(
        self, tree: Mapping[int, Node], ino: int, folder: int, name: str, target: int | None
    ) -> set[int]:
        """Every refusal that applies (the runtime answers with one of them)."""
        node = tree[ino]
        refusals = set()
        if node.folder and _inside(tree, folder, ino):
            refusals.add(errno.EINVAL)
        if target is None:
            return refusals
        if tree[target].name != name:
            return refusals | {errno.EEXIST}  # another item holds the name in another case
        if tree[target].folder and not node.folder:
            refusals.add(errno.EISDIR)
        elif not tree[target].folder and node.folder:
            refusals.add(errno.ENOTDIR)
        elif tree[target].folder and any(n.parent == target for n in tree.values()):
            refusals.add(errno.ENOTEMPTY)
        return refusals

    @precondition(lambda self: self._items())
    @rule(item=INDEX, as_folder=st.booleans())
    def delete(self, item: int, as_folder: bool) -> None:
        """``rm`` or ``rmdir``, sometimes the wrong one."""
        ino = self._pick(self._items(), item)
        tree = self.local()
        node = tree[ino]
        assert node.parent is not None
        done = (self.sys.rmdir if as_folder else self.sys.unlink)(node.parent, node.name)
        if node.folder != as_folder:
            self._expect(done, errno.ENOTDIR if as_folder else errno.EISDIR)
            return self._after(changed=False)
        if node.folder and any(n.parent == ino for n in tree.values()):
            self._expect(done, errno.ENOTEMPTY)
            return self._after(changed=False)
        self._expect(done)
        self.ops.append(Delete(ino))
        self._after()

    @precondition(lambda self: self._files())
    @rule(file=INDEX, content=CONTENT, editor=st.sampled_from(["gedit", "vim", "libreoffice"]))
    def editor_save(self, file: int, content: bytes, editor: str) -> None:
        """A save as editors make it: through a temporary file renamed over the original
        (gedit, LibreOffice, with its lock file), or the original renamed to a backup and
        written anew (vim)."""
        ino = self._pick(self._files(), file)
        content = self._ours(ino, content)
        node = self.local()[ino]
        parent = node.parent
        assert parent is not None
        if editor == "vim":
            backup = f"{node.name}~"
            self._rename_checked(ino, parent, backup)
            new = self._made(self.sys.create(parent, node.name, content))
            self.ops += [Create(new, parent, node.name, False), Write(new, content)]
            self._expect(self.sys.unlink(parent, backup))
            self.ops.append(Delete(ino))
            return self._after()
        lock = f".~lock.{node.name}#" if editor == "libreoffice" else None
        if lock is not None:
            locked = self._made(self.sys.create(parent, lock, b"lock"))
            self.ops += [Create(locked, parent, lock, False), Write(locked, b"lock")]
        temporary = ".goutputstream-Q1W2E3" if editor == "gedit" else "lu1234.tmp"
        made = self._made(self.sys.create(parent, temporary, content))
        self.ops += [Create(made, parent, temporary, False), Write(made, content)]
        self._rename_checked(made, parent, node.name)
        if lock is not None:
            self._expect(self.sys.unlink(parent, lock))
            self.ops.append(Delete(locked))
        self._after()

    def _rename_checked(self, ino: int, parent: int, name: str) -> None:
        tree = self.local()
        node = tree[ino]
        target = occupant(tree, parent, name, besides=ino)
        self._expect(self.sys.rename(node.parent or ROOT, node.name, parent, name))
        takeover = target is not None and ino not in self.links and target in self.links
        self.ops.append(Rename(ino, parent, name, takeover))

    @precondition(lambda self: self._items())
    @rule(item=INDEX, pinned=st.booleans())
    def pin(self, item: int, pinned: bool) -> None:
        ino = self._pick(self._items(), item)
        self._expect(self.sys.pin(ino, pinned))
        if self.online:
            self.sys.settle_hydration()
        self._after(changed=self.online)

    @rule()
    def evict(self) -> None:
        self.sys.evict()
        self._after(changed=False)

    # -- races: something else happens while a transfer is out -----------------------------

    @precondition(lambda self: self.online and self._files())
    @rule(
        file=INDEX,
        content=CONTENT,
        then=st.sampled_from(["rename", "write", "crash"]),
        again=CONTENT,
    )
    def while_uploading(self, file: int, content: bytes, then: str, again: bytes) -> None:
        """An upload is out when the file is renamed, written again, or the runtime crashes."""
        ino = self._pick(self._files(), file)
        content, again = self._ours(ino, content), self._ours(ino, again)
        node = self.local()[ino]
        parent = node.parent
        assert parent is not None
        self.ops.append(Write(ino, content))
        sys = self.sys
        if then == "rename":
            new = next(
                n for n in (f"renamed {node.name}", f"renamed again {node.name}")
                if occupant(self.local(), parent, n, besides=ino) is None
            )  # fmt: skip

            async def rename() -> None:
                assert (await sys._rename(parent, node.name, parent, new)).ok

            sys.during_upload(ino, content, rename)
            self.ops.append(Rename(ino, parent, new))
        elif then == "write":

            async def write() -> None:
                assert (await sys._write(ino, 0, again, True)).ok

            sys.during_upload(ino, content, write)
            self.ops.append(Write(ino, again))
        else:
            sys.during_upload(ino, content, sys._stop_engine)
            sys.start()
        self._after()

    @precondition(lambda self: self.online and self._files())
    @rule(file=INDEX, content=CONTENT)
    def upload_answer_lost(self, file: int, content: bytes) -> None:
        """The server takes an upload but the answer never arrives; delta shows it (the echo
        of our own upload) before the retry learns that it landed."""
        ino = self._pick(self._files(), file)
        content = self._ours(ino, content)
        self.ops.append(Write(ino, content))
        self.sys.answer_lost(ino, content)
        self._after()

    @precondition(lambda self: self.online and len(self._remote_files()) >= 2)
    @rule(first=INDEX, second=INDEX, content=CONTENT)
    def crash_mid_delta(self, first: int, second: int, content: bytes) -> None:
        """Another device changes files; the runtime crashes in the middle of reading delta
        (pages of one entry), and starts again."""
        files = self._remote_files()
        for index, extra in ((first, b"1"), (second, b"2")):
            self._remote_edit(index, content + extra)
        self.sys.set_delta(page=1, shuffle=False, repeat=False)
        self.sys.crash_mid_delta()
        assert files
        self._after()

    # -- the other device ----------------------------------------------------------------------

    @rule(parent=INDEX, name=st.sampled_from(NAMES), content=CONTENT, folder=st.booleans())
    def remote_create(self, parent: int, name: str, content: bytes, folder: bool) -> None:
        where = self._pick(self._remote_order(lambda e: e.folder), parent)
        try:
            self.drive.check_create(where, name)
        except (NameTaken, NotAllowed):
            return self._after(changed=False)
        if folder:
            made = self._admin_create(where, name, None)
            self.drive.create(made, where, name, folder=True)
        else:
            made = self._admin_create(where, name, content)
            self.drive.create(made, where, name, folder=False, content=content,
                              version=self._version())  # fmt: skip
        self._after(changed=False)

    @precondition(lambda self: self._remote_files())
    @rule(file=INDEX, content=CONTENT)
    def remote_edit(self, file: int, content: bytes) -> None:
        self._remote_edit(file, content)
        self._after(changed=False)

    def _remote_edit(self, file: int, content: bytes) -> None:
        """New bytes from another device: never bytes the file had before (a drive without
        cTags, Business, cannot tell A, B, A from A, and neither can a user)."""
        item_id = self._pick(self._remote_files(), file)
        history = self.history.setdefault(item_id, {self.drive.entries[item_id].content})
        ours = {op.content for op in self.ops if isinstance(op, Write)}  # nor what we wrote
        while content in history or content in ours:
            content += b"+"
        history.add(content)
        self._admin_edit(item_id, content=content)
        self.drive.replace(item_id, content, self._version())

    @precondition(lambda self: len(self.drive.entries) > 1)
    @rule(item=INDEX, parent=INDEX, name=st.sampled_from(NAMES))
    def remote_move(self, item: int, parent: int, name: str) -> None:
        item_id = self._pick(self._remote_order(lambda e: e.parent is not None), item)
        where = self._pick(self._remote_order(lambda e: e.folder), parent)
        try:
            self.drive.check_move(item_id, name=name, parent=where)
        except (NameTaken, NotAllowed):
            return self._after(changed=False)
        self._admin_edit(item_id, name=name, parent=where)
        self.drive.move(item_id, name=name, parent=where)
        self._after(changed=False)

    @precondition(lambda self: len(self.drive.entries) > 1)
    @rule(item=INDEX)
    def remote_delete(self, item: int) -> None:
        item_id = self._pick(self._remote_order(lambda e: e.parent is not None), item)
        if self.online:
            response = self.sys.admin("DELETE", f"/items/{item_id}")
            assert response.status_code == 204, response.text
        else:
            self.sys.drive.delete(item_id)
        self.drive.delete(item_id)
        self._after(changed=False)

    def _remote_files(self) -> list[str]:
        return self._remote_order(lambda e: not e.folder)

    def _admin_create(self, parent: str, name: str, content: bytes | None) -> str:
        if not self.online:
            drive = self.sys.drive
            if content is None:
                return drive.create_folder(parent, name).id
            return drive.put_bytes(parent, name, content)[0].id
        body: dict[str, Any] = {"parent": parent, "name": name, "folder": content is None}
        if content is not None:
            body["content_b64"] = _b64(content)
        response = self.sys.admin("POST", "/items", body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def _admin_edit(self, item_id: str, **change: Any) -> None:
        if not self.online:
            drive = self.sys.drive
            if "content" in change:
                drive.replace_content(item_id, drive.write_blob(change["content"]), if_match=None)
            else:
                drive.update(item_id, name=change["name"], parent_id=change["parent"])
            return
        body = dict(change)
        if "content" in body:
            body = {"content_b64": _b64(body.pop("content"))}
        response = self.sys.admin("PATCH", f"/items/{item_id}", body)
        assert response.status_code == 200, response.text

    # -- the world -----------------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        self._after(changed=self.online)

    @precondition(lambda self: self.online)
    @rule()
    def go_offline(self) -> None:
        self.sys.go_offline()
        self._after(changed=False)

    @precondition(lambda self: not self.online)
    @rule()
    def go_online(self) -> None:
        self.sys.go_online()
        self._after()

    @rule()
    def crash(self) -> None:
        self.sys.crash()
        self._after(changed=self.online)

    @rule(page=st.integers(1, 4), shuffle=st.booleans(), repeat=st.booleans())
    def delta_pages(self, page: int, shuffle: bool, repeat: bool) -> None:
        self.sys.set_delta(page=page, shuffle=shuffle, repeat=repeat)
        self._after(changed=False)

    @precondition(lambda self: self.online and not self.armed)
    @rule(kind=st.sampled_from(FAULTS), count=st.integers(1, 2))
    def faults(self, kind: str, count: int) -> None:
        """Trouble on the wire during the next step: 429s, or connections dropped mid-answer."""
        rule_ = {
            "throttle": FaultRule(path="/v1.0/*", status=429, retry_after=0, count=count),
            "drop_download": FaultRule(path="/dl/*", drop="response", drop_after=3, count=count),
            "drop_upload": FaultRule(
                path="/v1.0/*/content", method="PUT", drop="request", drop_after=1, count=count
            ),
            "drop_delta": FaultRule(
                path="/v1.0/*delta*", drop="response", drop_after=10, count=count
            ),
        }[kind]
        self.armed = [rule_]
        self.sys.faults(rule_)

    # -- expectations --------------------------------------------------------------------------

    def _ours(self, ino: int, content: bytes) -> bytes:
        """``content``, unless the server's unseen new version of the file holds exactly
        those bytes: then a conflict copy would be optional (nothing is lost either way,
        and which way it goes is a race), so the user writes something else."""
        item_id = self.links.get(ino)
        there = self.drive.entries.get(item_id or "")
        seen = self.known.get(item_id or "")
        while there is not None and seen is not None and there.version != seen.version:
            if there.content != content:
                break
            content += b"~"
        return content

    def _base_for_change(self, ino: int) -> tuple[bytes, int | None] | None:
        """The bytes a read sees, or a change is made on top of, and the version they are when
        the runtime must fetch them first (None when it cannot: offline, or gone there)."""
        node = self.local()[ino]
        if self.sys.cached(ino):
            return node.content, None
        if not self.online:
            return None
        item_id = self.links[ino]
        entry = self.drive.entries.get(item_id)
        if entry is None:
            return None
        return entry.content, entry.version

    def _refused(self, done: Outcome, ino: int) -> None:
        """A ghost that cannot be had: ENETDOWN offline, and once the server has lost it, an
        error (never an empty or stale file)."""
        if not self.online:
            if done.ok and done.value == b"" and not self.local()[ino].content:
                return self._after(changed=False)  # an empty file needs nothing fetched
            self._expect(done, errno.ENETDOWN)
            return self._after(changed=False)
        assert done.errno in (errno.EIO, errno.ENOENT), f"inode {ino}: {done}"
        self._after()

    def _expect(self, done: Outcome, code: int | None = None) -> None:
        if code is None:
            assert done.ok, f"refused with {errno.errorcode.get(done.errno or 0)}: {done}"
        else:
            assert done.errno == code, f"expected {errno.errorcode[code]}, got {done}"

    def _made(self, done: Outcome) -> int:
        self._expect(done)
        ino = int(done.value)
        assert ino not in self.retired and ino not in self.local(), f"inode {ino} reused"
        return ino

    # -- after every step ----------------------------------------------------------------------

    def _after(self, *, changed: bool = True) -> None:
        """The checks of the module docstring; an online step that changed something first
        brings the runtime to a quiet sync and the model to the settled drive."""
        try:
            # Trouble on the wire changes the link's state, and a link back to ONLINE catches
            # up with delta by itself: such a step ends with a sync whatever it did.
            if (changed or self.armed) and self.online:
                self._quiet()
            else:
                self._check_between()
            self.sys.check_store()
        finally:
            if self.armed:
                self.sys.clear_faults()
                self.armed = []

    def _check_between(self) -> None:
        assert _plain(fake_entries(self.sys.drive)) == _plain(self.drive.entries), (
            "the fake's drive is not the model's"
        )
        expected = {ino: n for ino, n in self.local().items() if ino != ROOT}
        seen = self.sys.tree()
        assert sorted(seen) == sorted(expected), (
            f"the mount shows inodes {sorted(seen)}, the model {sorted(expected)}:"
            f"\n  mount: {_show(seen)}\n  model: {expected}"
        )
        for ino, node in expected.items():
            _same_node(ino, seen[ino], node)

    def _quiet(self) -> None:
        self.sys.quiet()
        actual = fake_entries(self.sys.drive)
        root = self.drive.root_id
        expected = settle(self.drive.entries, root, self.known, self.links, self.ops)
        self._no_write_lost(actual)
        paired = match(expected, actual, root)
        by_key = {paired[k]: e for k, e in expected.items() if k in paired}
        entries: dict[str, Entry] = {}
        for item_id, e in actual.items():
            version = by_key[item_id].version if item_id in by_key else 0
            if version is None:
                version = self._version()
            entries[item_id] = replace(e, version=0 if e.folder else version)
        drive = DriveModel(root)
        drive.entries = entries
        seen = self.sys.tree()
        on_drive = {drive.path_of(i): i for i in entries if i != root}
        seen_tree = {
            ino: Node(s.name, s.parent, s.folder, s.content or b"") for ino, s in seen.items()
        }
        seen_tree[ROOT] = Node("", None, True)
        in_mount = paths(seen_tree)
        assert sorted(in_mount) == sorted(on_drive), (
            f"after a quiet sync the mount and the drive differ:\n  mount only:"
            f" {sorted(set(in_mount) - set(on_drive))}\n  drive only:"
            f" {sorted(set(on_drive) - set(in_mount))}"
        )
        for path, ino in in_mount.items():
            e = entries[on_drive[path]]
            _same_node(ino, seen[ino], Node(e.name, seen[ino].parent, e.folder, e.content))
        for k, item in expected.items():
            if item.ino is not None and k in paired and paired[k] != root:
                where = drive.path_of(paired[k])
                assert in_mount[where] == item.ino, (
                    f"{where} is inode {in_mount[where]}; it was inode {item.ino}"
                )
        before = set(self.local()) | set(self.links)
        self.links = {ROOT: root} | {ino: on_drive[p] for p, ino in in_mount.items()}
        for ino in set(self.links) - before:
            assert ino not in self.retired, f"inode {ino} handed out again"
        self.retired |= before - set(self.links)
        self.drive = drive
        self.known = dict(entries)
        self.ops = []
        for item_id, e in entries.items():
            self.history.setdefault(item_id, set()).add(e.content)

    def _no_write_lost(self, actual: Mapping[str, Entry]) -> None:
        """Every file the user wrote and did not delete: its last bytes are on the server, in
        the file itself (under the name given here or there) or in a conflict copy beside it
        (no other rule of the model needed to say so)."""
        local = self.local()
        written = {op.ino for op in self.ops if isinstance(op, Write)}
        for ino in written:
            node = local.get(ino)
            if node is None:
                continue  # the user's own delete (or rename over it)
            names = {node.name}
            there = self.drive.entries.get(self.links.get(ino, ""))
            if there is not None:
                names.add(there.name)
            found = [e.name for e in actual.values() if not e.folder and e.content == node.content]
            assert any(
                n in names or any(name_matches(copy_pattern(m), n) for m in names) for n in found
            ), f"the bytes {node.content!r} written to {node.name!r} (inode {ino}) are lost"


def _codes(codes: set[int]) -> list[str]:
    return sorted(errno.errorcode[c] for c in codes)


def _inside(tree: Mapping[int, Node], ino: int, ancestor: int) -> bool:
    current: int | None = ino
    while current is not None:
        if current == ancestor:
            return True
        current = tree[current].parent
    return False


def _same_node(ino: int, seen: Seen, node: Node) -> None:
    what = f"inode {ino} {node.name!r}"
    assert (seen.name, seen.parent, seen.folder) == (node.name, node.parent, node.folder), (
        f"{what}: the mount shows {seen}"
    )
    if node.folder:
        return
    assert seen.size == len(node.content), f"{what}: size {seen.size}, model {len(node.content)}"
    if seen.content is not None:
        assert seen.content == node.content, (
            f"{what}: bytes {seen.content!r}, model {node.content!r}"
        )
    else:
        assert seen.remote_hash == quickxorhash_b64(node.content), (
            f"{what}: a ghost of another version (hash {seen.remote_hash})"
        )


def _show(seen: Mapping[int, Seen]) -> dict[int, tuple[str, int, bool, bytes | None]]:
    return {ino: (s.name, s.parent, s.folder, s.content) for ino, s in seen.items()}


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


__all__ = ["SystemMachine", "fake_entries"]
