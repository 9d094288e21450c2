"""``GraphClient``: the typed operations onemount needs from Microsoft Graph.

One client owns one ``httpx.AsyncClient`` (so one connection pool), one rate limiter and one
throttle gate, shared by every operation it runs. Use it as an async context manager inside
trio::

    async with GraphClient(tokens, GraphConfig(base_url=...)) as graph:
        async for page in graph.delta(cursor):
            ...

``transport`` is the seam for tests: ``httpx.ASGITransport(app=fake)`` runs the fake Graph in
process, any other httpx transport works too; ``None`` is real TCP.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from onemount.graph.config import GraphConfig
from onemount.graph.core import Core, Request
from onemount.graph.download import Downloaded, download
from onemount.graph.errors import ErrorInfo, MalformedResponse
from onemount.graph.items import Drive, DriveItem, parse_drive, parse_item, safe_name
from onemount.graph.outcomes import NullListener, OutcomeListener
from onemount.graph.pacing import RateLimiter, ThrottleGate
from onemount.graph.paging import DELTA_SELECT, Pages
from onemount.graph.paths import item_path, root_path
from onemount.graph.retry import Retrier
from onemount.graph.sessions import SessionStore
from onemount.graph.subscriptions import SocketIoSubscription, parse_socketio_subscription
from onemount.graph.tokens import TokenProvider
from onemount.graph.upload import NO_TIMES, FileTimes, Uploader, UploadTarget

_FAIL = "fail"
_USER_AGENT = "onemount/0.1 (+https://github.com/onemount)"


class GraphClient:
    """Typed Graph operations over one retrying, throttle-aware HTTP core."""

    def __init__(
        self,
        tokens: TokenProvider,
        config: GraphConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        listener: OutcomeListener | None = None,
        draw: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config = config or GraphConfig()
        limits = httpx.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=config.max_connections,
        )
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=config.timeout,
            limits=limits,
            follow_redirects=True,  # /content answers 302; httpx drops auth cross-origin
            headers={"User-Agent": _USER_AGENT},
        )
        listener = listener or NullListener()
        retrier = Retrier(config.policy, ThrottleGate(), listener, draw)
        self.core = Core(
            self._http,
            base_url=config.base_url,
            tokens=tokens,
            listener=listener,
            retrier=retrier,
            limiter=RateLimiter(config.rate, config.burst),
            wall_clock=wall_clock,
        )
        self._uploader = Uploader(self.core, config)

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- reading ---------------------------------------------------------------------------------

    async def drive(self) -> Drive:
        """The drive: id, type and quota (also a cheap connectivity probe)."""
        return parse_drive(await self._get(self.config.drive))

    async def root(self) -> DriveItem:
        return parse_item(await self._get(root_path(self.config.drive, [])))

    async def item(self, item_id: str) -> DriveItem:
        return parse_item(await self._get(self._item_path(item_id)))

    async def item_by_path(self, path: str) -> DriveItem:
        """The item at ``path`` (``"/Documents/a.txt"``), compared case-insensitively by Graph."""
        segments = [safe_name(s) for s in path.split("/") if s]
        return parse_item(await self._get(root_path(self.config.drive, segments)))

    def children(self, item_id: str, *, select: str = DELTA_SELECT) -> Pages:
        """The folder's children, page by page (``$select`` narrows what each item carries)."""
        params = {"$top": str(self.config.children_page_size), "$select": select}
        first = Request("GET", f"{self._item_path(item_id)}/children", params=params)
        return Pages(self.core, first, delta=False)

    def delta(self, cursor: str | None = None) -> Pages:
        """The delta feed from ``cursor`` (a stored deltaLink), or a full enumeration from None.

        Ends with :attr:`Pages.delta_link`, the cursor for next time. A cursor the service
        no longer knows raises :class:`ResyncRequired`: start again with ``cursor=None``.
        """
        if cursor is None:
            first = Request(
                "GET", f"{self.config.drive}/root/delta", params={"$select": DELTA_SELECT}
            )
        else:
            first = Request("GET", cursor)
        return Pages(self.core, first, delta=True)

    async def latest_cursor(self) -> str:
        """A cursor for "from now on", without enumerating anything (``token=latest``)."""
        params = {"token": "latest", "$select": DELTA_SELECT}
        pages = Pages(
            self.core, Request("GET", f"{self.config.drive}/root/delta", params=params), delta=True
        )
        await pages.all_items()
        if pages.delta_link is None:  # Pages refuses a delta walk that ends without one
            raise MalformedResponse(ErrorInfo(None), "token=latest gave no deltaLink")
        return pages.delta_link

    async def subscribe_socketio(self) -> SocketIoSubscription:
        """A Socket.IO endpoint pushing "something changed" for the drive (graph-api.md §11).

        Runs through the same retry loop as every call, so throttling and dropped connections
        are handled here. A refusal is the typed error of its status: accounts and tenants
        that block notifications answer 403, a plain :class:`GraphError` with ``status`` 403,
        on which the caller falls back to polling. The answer's ``notificationUrl`` is a
        credential (see :mod:`onemount.graph.subscriptions`).
        """
        url = f"{self.config.drive}/root/subscriptions/socketIo"
        # Microsoft lists Content-Type as required on this GET; sending it costs nothing.
        request = Request("GET", url, headers={"Content-Type": "application/json"})
        return parse_socketio_subscription(await self.core.call_json(lambda: request))

    async def download(self, item_id: str, dest: Path, *, expected_hash: str | None) -> Downloaded:
        """The item's bytes into ``dest``, resumed across drops and checked against the hash."""
        url = f"{self._item_path(item_id)}/content"
        return await download(
            self.core, url, dest, expected_hash=expected_hash, chunk=self.config.download_chunk
        )

    # -- writing ---------------------------------------------------------------------------------

    async def upload(
        self,
        source: Path,
        target: UploadTarget,
        *,
        times: FileTimes = NO_TIMES,
        sessions: SessionStore | None = None,
        key: str | None = None,
    ) -> DriveItem:
        """Upload ``source``; see :mod:`onemount.graph.upload` for the conflict rules."""
        return await self._uploader.upload(source, target, times=times, sessions=sessions, key=key)

    async def create_folder(self, parent_id: str, name: str) -> DriveItem:
        """A new folder; an existing item of that name is a :class:`NameConflict`."""
        body = {"name": safe_name(name), "folder": {}, "@microsoft.graph.conflictBehavior": _FAIL}
        url = f"{self._item_path(parent_id)}/children"
        return parse_item(await self.core.call_json(lambda: Request("POST", url, json=body)))

    async def move(
        self,
        item_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        times: FileTimes | None = None,
        if_match: str | None = None,
    ) -> DriveItem:
        """Rename and/or move (and set ``fileSystemInfo`` times in the same PATCH).

        A name taken at the destination is a :class:`NameConflict`.
        """
        body: dict[str, object] = {}
        if name is not None:
            body["name"] = safe_name(name)
        if parent_id is not None:
            body["parentReference"] = {"id": parent_id}
        if not body:
            raise ValueError("move needs a new name or a new parent")
        if times is not None and (stamps := times.as_json()):
            body["fileSystemInfo"] = stamps
        return await self._patch(item_id, body, if_match)

    async def set_times(
        self, item_id: str, times: FileTimes, *, if_match: str | None = None
    ) -> DriveItem:
        """Set the item's ``fileSystemInfo`` times (a simple PUT cannot carry them)."""
        return await self._patch(item_id, {"fileSystemInfo": times.as_json()}, if_match)

    async def delete(self, item_id: str, *, if_match: str | None = None) -> None:
        """Delete (to the recycle bin); with ``if_match``, only that version of the item."""
        request = Request("DELETE", self._item_path(item_id), headers=_if_match(if_match))
        await self.core.call(lambda: request)

    # -- helpers ---------------------------------------------------------------------------------

    async def _patch(
        self, item_id: str, body: dict[str, object], if_match: str | None
    ) -> DriveItem:
        request = Request("PATCH", self._item_path(item_id), headers=_if_match(if_match), json=body)
        return parse_item(await self.core.call_json(lambda: request))

    async def _get(self, url: str) -> object:
        return await self.core.call_json(lambda: Request("GET", url))

    def _item_path(self, item_id: str) -> str:
        return item_path(self.config.drive, item_id)


def _if_match(tag: str | None) -> dict[str, str]:
    return {"If-Match": tag} if tag is not None else {}
