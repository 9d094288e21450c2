"""Paging through delta and children: a bad element costs itself, a bad page costs the page.

Served by a scripted ASGI app, since neither Graph nor the fake ever sends a malformed item;
the client runs unmodified (``GraphClient.delta``/``children`` over ``httpx``).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

from onemount.graph import GraphClient, MalformedResponse
from onemount.graph.items import RejectedItem
from tests.graph.scripted import BASE, Answer, ScriptedApp, client_for

SECOND = f"{BASE}/me/drive/root/delta?token=page2"
CURSOR = f"{BASE}/me/drive/root/delta?token=next-time"


def live(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "name": f"{item_id}.txt", "file": {}, "parentReference": {"id": "R"}}


def walk(app: ScriptedApp, check: Any) -> None:
    async def main() -> None:
        async with client_for(app) as graph:
            await check(graph)

    trio.run(main)


def test_a_malformed_item_mid_page_leaves_the_others_in_order_and_the_walk_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = {"id": "BAD", "name": "a/b", "file": {}}
    app = ScriptedApp(
        Answer(200, {"value": [live("A"), live("B"), bad, live("C")], "@odata.nextLink": SECOND}),
        Answer(200, {"value": [live("D")], "@odata.deltaLink": CURSOR}),
    )

    async def check(graph: GraphClient) -> None:
        pages = graph.delta()
        first = await pages.__anext__()
        assert [item.id for item in first.items] == ["A", "B", "C"]
        assert first.rejected == (
            RejectedItem("BAD", "'a/b': a '/' or a NUL cannot be part of a file name"),
        )
        second = await pages.__anext__()
        assert [item.id for item in second.items] == ["D"] and second.rejected == ()
        assert pages.delta_link == CURSOR  # the cursor moves past the rejected item

    with caplog.at_level(logging.WARNING):
        walk(app, check)
    assert len(app.seen) == 2  # the first page was not fetched again
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "rejected an item of a page (id BAD): 'a/b': a '/' or a NUL cannot be part of a file name"
    ]


def test_a_children_listing_keeps_going_past_a_bad_item() -> None:
    app = ScriptedApp(
        Answer(200, {"value": [live("A"), {"id": "N"}], "@odata.nextLink": SECOND}),
        Answer(200, {"value": [7, live("B")]}),
    )
    seen: list[list[str]] = []

    async def check(graph: GraphClient) -> None:
        async for page in graph.children("R"):
            seen.append([item.id for item in page.items] + [f"!{r.id}" for r in page.rejected])

    walk(app, check)
    assert seen == [["A", "!N"], ["B", "!None"]]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([live("A")], "not a JSON object"),
        ({"value": {"A": live("A")}}, "'value' is not a list"),
        ({"value": [live("A")], "@odata.nextLink": 7}, "paging link is not a string"),
        (
            {"value": [live("A")], "@odata.nextLink": SECOND, "@odata.deltaLink": CURSOR},
            "both a nextLink and a deltaLink",
        ),
        ({"value": [live("A")]}, "carries no deltaLink"),
    ],
)
def test_a_page_that_cannot_be_read_is_refused_whole(body: Any, why: str) -> None:
    """Not one item's fault: the page itself is unreadable, so nothing of it is applied."""
    app = ScriptedApp(Answer(200, body))

    async def check(graph: GraphClient) -> None:
        pages = graph.delta()
        with pytest.raises(MalformedResponse, match=why):
            await pages.__anext__()
        assert pages.delta_link is None

    walk(app, check)
