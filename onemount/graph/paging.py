"""Paged collections (children listings and the delta feed) as async iterators of pages.

Each page is one retried GET of the previous page's ``@odata.nextLink``, taken verbatim
(Graph carries the query, ``$select`` included, into its links). A delta walk ends on the page
with ``@odata.deltaLink``, the cursor for next time; a children listing ends on the page with
no link. Pages are handed over as they arrive so the caller can stage them, but a delta is only
consistent once the last page is in: applying earlier pages alone is the caller's mistake to
avoid (graph-api.md §2.1).

One malformed element does not refuse its page (a refused page would be fetched again and
again, and sync would never get past it): the page carries its good items and a
:class:`RejectedItem` for each bad one. What refuses a page is what makes the page itself
unreadable: not a JSON object, a ``value`` that is not a list, bad paging links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onemount.graph.core import Core, Request
from onemount.graph.errors import ErrorInfo, MalformedResponse
from onemount.graph.items import DriveItem, RejectedItem, parse_items

# Always asked for in delta: without ``deleted`` a removed item looks like a live nameless file
# (graph-api.md §2.2, AT-145), and without the facets a folder cannot be told from a file.
DELTA_SELECT = (
    "id,name,eTag,cTag,size,createdDateTime,lastModifiedDateTime,fileSystemInfo,"
    "parentReference,file,folder,package,root,deleted,remoteItem"
)


@dataclass(frozen=True)
class Page:
    """One page: its usable items in server order, the elements rejected, and its link.

    A delta consumer must remember ``rejected`` ids as not applied (each was logged once at
    WARNING already): the cursor moves past them, so the next delta will not repeat them.
    """

    items: list[DriveItem]
    next_link: str | None
    delta_link: str | None
    rejected: tuple[RejectedItem, ...] = ()


class Pages:
    """Async iterator over the pages starting at ``first``.

    ``delta`` says whether the walk must end with a deltaLink (a delta feed) or with no link
    (a listing). After the last page, :attr:`delta_link` holds the cursor of a delta walk.
    """

    def __init__(self, core: Core, first: Request, *, delta: bool) -> None:
        self._core = core
        self._next: Request | None = first
        self._delta = delta
        self.delta_link: str | None = None

    def __aiter__(self) -> Pages:
        return self

    async def __anext__(self) -> Page:
        request = self._next
        if request is None:
            raise StopAsyncIteration
        page = _page(await self._core.call_json(lambda: request))
        if page.delta_link is not None and not self._delta:
            raise _malformed("a listing page carries a deltaLink")
        if page.next_link is None and page.delta_link is None and self._delta:
            raise _malformed("the last delta page carries no deltaLink")
        self._next = Request("GET", page.next_link) if page.next_link else None
        self.delta_link = page.delta_link
        return page

    async def all_items(self) -> list[DriveItem]:
        """Every item of every remaining page, in server order (rejections are only logged)."""
        return [item async for page in self for item in page.items]


def _page(data: Any) -> Page:
    if not isinstance(data, Mapping):
        raise _malformed("a page is not a JSON object")
    next_link = data.get("@odata.nextLink")
    delta_link = data.get("@odata.deltaLink")
    for link in (next_link, delta_link):
        if link is not None and not isinstance(link, str):
            raise _malformed("a paging link is not a string")
    if next_link is not None and delta_link is not None:
        raise _malformed("a page carries both a nextLink and a deltaLink")
    parsed = parse_items(data.get("value"))
    return Page(parsed.items, next_link, delta_link, parsed.rejected)


def _malformed(detail: str) -> MalformedResponse:
    return MalformedResponse(ErrorInfo(None), detail)
