"""Random operation sequences against the fake, held to a plain model of a drive.

Each step creates, uploads, replaces, renames, moves or deletes over HTTP, with names drawn
from a small set that differ only in case so that conflicts happen often. The model
(``models/drive.py``) says whether the service must accept or refuse, and with which status.
After every step:

* a full enumeration through delta (in small pages, optionally shuffled and with repeats)
  equals the model: ids, names, parents, kinds, sizes (folders: the sum below them), hashes;
* a client that only ever applied the delta feed from its last cursor to what it knew
  (tombstones remove, the last entry wins, ancestors are harmless) also equals the model,
  folder sizes aside (derived; see the invariant).

The second property is the whole contract of delta; it is what the sync engine will rely on.
Hypothesis prints the failing sequence and its reproduction blob; ``--hypothesis-seed`` replays.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from models.drive import DriveModel, NameTaken, NotAllowed
from onemount.quickxorhash import quickxorhash_b64
from tests.graph.fake import running_fake

pytestmark = pytest.mark.model

NAMES = st.sampled_from(["a", "A", "b.txt", "B.TXT", "notes", "Notes"])
CONTENT = st.binary(max_size=64)
Known = dict[str, tuple[str | None, str | None, bool, int, str | None]]


class DriveWalk(RuleBasedStateMachine):
    folders = Bundle("folders")
    items = Bundle("items")

    def __init__(self) -> None:
        super().__init__()
        self._fake = running_fake()
        self.fake = self._fake.__enter__()
        self.http = httpx.Client(
            base_url=self.fake.base_url, headers={"Authorization": f"Bearer {self.fake.token}"}
        )
        self.model = DriveModel(self.fake.drive.root_id)
        self.view: Known = {}
        self.cursor: str | None = None

    def teardown(self) -> None:
        self.http.close()
        self._fake.__exit__(None, None, None)

    @initialize(target=folders, page=st.integers(1, 3), shuffle=st.booleans(), repeat=st.booleans())
    def start(self, page: int, shuffle: bool, repeat: bool) -> str:
        self.fake.drive.options.update(
            {"delta_page_size": page, "shuffle_delta": shuffle, "duplicate_delta": repeat}
        )
        self.view, self.cursor = self._walk(None)
        return self.model.root_id

    # -- operations ----------------------------------------------------------------------------

    @rule(target=folders, parent=folders, name=NAMES)
    def mkdir(self, parent: str, name: str) -> str:
        response = self.http.post(
            f"/me/drive/items/{parent}/children",
            json={"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"},
        )
        return self._created(response, parent, name, folder=True)

    @rule(target=items, parent=folders, name=NAMES, content=CONTENT)
    def upload(self, parent: str, name: str, content: bytes) -> str:
        response = self.http.put(
            f"/me/drive/items/{parent}:/{quote(name, safe='')}:/content",
            params={"@microsoft.graph.conflictBehavior": "fail"},
            content=content,
        )
        return self._created(response, parent, name, folder=False, content=content)

    @rule(item=items, content=CONTENT)
    def replace(self, item: str, content: bytes) -> None:
        response = self.http.put(f"/me/drive/items/{item}/content", content=content)
        if item not in self.model.entries:
            assert response.status_code == 404
            return
        if self.model.entries[item].folder:  # a failed upload left its folder in the bundle
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 200, response.text
        self.model.replace(item, content)

    @rule(item=st.one_of(folders, items), parent=folders, name=NAMES)
    def move(self, item: str, parent: str, name: str) -> None:
        if item == self.model.root_id:
            return
        body = {"name": name, "parentReference": {"id": parent}}
        response = self.http.patch(f"/me/drive/items/{item}", json=body)
        if item not in self.model.entries:
            assert response.status_code == 404
            return
        if parent not in self.model.entries:
            assert response.status_code == 404  # the parent does not exist
            return
        try:
            self.model.check_move(item, name=name, parent=parent)
        except NameTaken:
            assert response.status_code == 409, response.text
            return
        except NotAllowed:
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 200, response.text
        self.model.move(item, name=name, parent=parent)

    @rule(item=st.one_of(folders, items))
    def delete(self, item: str) -> None:
        if item == self.model.root_id:
            return
        response = self.http.delete(f"/me/drive/items/{item}")
        if item not in self.model.entries:
            assert response.status_code == 404
            return
        assert response.status_code == 204, response.text
        self.model.delete(item)

    def _created(
        self,
        response: httpx.Response,
        parent: str,
        name: str,
        *,
        folder: bool,
        content: bytes = b"",
    ) -> str:
        if parent not in self.model.entries:
            assert response.status_code == 404, response.text
            return parent  # nothing new; the bundle gets an id that is gone, as it should
        try:
            self.model.check_create(parent, name)
        except NameTaken:
            assert response.status_code == 409, response.text
            return parent
        except NotAllowed:
            assert response.status_code == 400, response.text
            return parent
        assert response.status_code == 201, response.text
        item_id: str = response.json()["id"]
        self.model.create(item_id, parent, name, folder=folder, content=content)
        return item_id

    # -- what every client must be able to rebuild -------------------------------------------

    @invariant()
    def enumeration_matches_the_model(self) -> None:
        if self.cursor is None:
            return  # before start()
        enumerated, _ = self._walk(None)
        assert enumerated == self._expected()

    @invariant()
    def a_client_following_delta_matches_the_model(self) -> None:
        """Everything but folder sizes: a folder's size is derived from what is below it, and
        delta does not re-report the folder a child moved out of (its eTag does not change
        either), so a client computes folder sizes itself rather than trusting a stale one."""
        if self.cursor is None:
            return
        self.view, self.cursor = self._walk(self.cursor, apply_to=self.view)
        assert _file_sizes_only(self.view) == _file_sizes_only(self._expected())

    def _expected(self) -> Known:
        model = self.model

        def size(item_id: str) -> int:
            entry = model.entries[item_id]
            if not entry.folder:
                return len(entry.content)
            return sum(size(child) for child in model.children(item_id))

        return {
            item_id: (
                None if entry.parent is None else entry.name,
                entry.parent,
                entry.folder,
                size(item_id),
                None if entry.folder else quickxorhash_b64(entry.content),
            )
            for item_id, entry in model.entries.items()
        }

    def _walk(self, cursor: str | None, apply_to: Known | None = None) -> tuple[Known, str]:
        """Follow the feed from ``cursor`` to its deltaLink; apply it to a copy of ``apply_to``."""
        known = dict(apply_to or {})
        url: str | None = cursor or "/me/drive/root/delta"
        while url is not None:
            page: dict[str, Any] = self.http.get(url).json()
            for item in page["value"]:  # in feed order: the last entry for an id wins
                if "deleted" in item:
                    known.pop(item["id"], None)
                    continue
                is_root = "root" in item
                known[item["id"]] = (
                    None if is_root else item["name"],
                    item.get("parentReference", {}).get("id"),
                    "folder" in item,
                    item["size"],
                    item["file"]["hashes"]["quickXorHash"] if "file" in item else None,
                )
            url = page.get("@odata.nextLink")
            delta_link = page.get("@odata.deltaLink")
        assert delta_link is not None
        return known, delta_link


def _file_sizes_only(known: Known) -> Known:
    return {
        item_id: (name, parent, folder, 0 if folder else size, qxh)
        for item_id, (name, parent, folder, size, qxh) in known.items()
    }


DriveWalk.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_the_fake_follows_the_model = DriveWalk.TestCase
