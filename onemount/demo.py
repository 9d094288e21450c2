"""``make demo``: onemount's layers at work on the embedded default, the fake Graph's sample drive.

What runs is real: the fake Graph server on 127.0.0.1 (its drive persisted under the XDG data
folder, so the demo's own edits are there next time), onemount's Graph client talking HTTP to
it, a delta enumeration, a hash-verified download, an upload, and a change made "on another
device" arriving through the delta feed. The FUSE mount is not built yet; the demo says so
rather than pretending.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import trio

from onemount.fakegraph import FakeGraph, build, serve_in_thread
from onemount.graph import DriveItem, GraphClient, GraphConfig, NameConflict, NewItem, StaticToken

NOTE = "Notes from the demo.txt"


def default_demo_dir() -> Path:
    from onemount.cli.fakegraph_cmd import default_data_dir

    return default_data_dir().with_name("demo-drive")


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable: the loop returns at GiB")


def _tree(items: list[DriveItem]) -> list[str]:
    """The drive as an indented listing, folders first, from delta's unordered items."""
    by_parent: dict[str | None, list[DriveItem]] = defaultdict(list)
    root = next(i for i in items if i.is_root)
    for item in items:
        if not item.is_root and not item.deleted:
            by_parent[item.parent_id].append(item)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        children = sorted(by_parent[parent], key=lambda i: (not i.is_folder, i.name or ""))
        for child in children:
            label = f"{child.name}/" if child.is_folder else f"{child.name}  ({_size(child.size)})"
            lines.append("  " * depth + label)
            walk(child.id, depth + 1)

    walk(root.id, 1)
    return lines


async def _tour(fake: FakeGraph, base_url: str, token: str) -> None:
    async with GraphClient(StaticToken(token), GraphConfig(base_url=base_url)) as graph:
        drive = await graph.drive()
        quota = drive.quota
        print(f"Drive {drive.id} ({drive.drive_type}) at {base_url}")
        if quota is not None and quota.used is not None and quota.total is not None:
            print(f"  {_size(quota.used)} used of {_size(quota.total)}")

        pages = graph.delta()
        page_count = 0
        items: list[DriveItem] = []
        async for page in pages:
            page_count += 1
            items.extend(page.items)
        print(f"\nFirst enumeration through delta: {len(items)} items in {page_count} page(s)")
        for line in _tree(items):
            print(line)
        cursor = pages.delta_link
        assert cursor is not None  # Pages refuses a delta walk that ends without one

        welcome = await graph.item_by_path("/Documents/Welcome.txt")
        with tempfile.TemporaryDirectory() as scratch:
            done = await graph.download(
                welcome.id, Path(scratch) / "welcome", expected_hash=welcome.quick_xor_hash
            )
            print(f"\nDownloaded {welcome.name}: {done.size} bytes, quickXorHash verified")
            for line in done.path.read_text().splitlines():
                print(f"  | {line}")

            note = Path(scratch) / "note.txt"
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            note.write_text(f"Written by make demo at {stamp}.\n")
            documents = await graph.item_by_path("/Documents")
            try:
                uploaded = await graph.upload(note, NewItem(documents.id, NOTE))
                print(f"\nUploaded Documents/{uploaded.name} ({uploaded.size} bytes)")
            except NameConflict:
                print(f"\nDocuments/{NOTE} is there from an earlier run: not overwritten")

        shopping = fake.drive.resolve(fake.drive.root_id, ["Documents", "Shopping list.md"])
        fake.drive.replace_content(
            shopping.id, fake.drive.write_blob(b"# Shopping\n\n- coffee\n- more coffee\n"),
            if_match=None,
        )  # fmt: skip
        print("Another device edited Documents/Shopping list.md")

        changes = await graph.delta(cursor).all_items()
        changed = sorted({i.name or i.id for i in changes if not i.is_folder})
        print(f"Delta since the first enumeration: {len(changes)} entries; files: {changed}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onemount demo", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="the demo drive's folder")
    args = parser.parse_args(argv)
    data = args.data or default_demo_dir()
    fake = build(data, seed="sample")
    try:
        with serve_in_thread(fake.asgi()) as origin:
            token = fake.authority.issue_static_token()
            trio.run(_tour, fake, f"{origin}/v1.0", token)
    finally:
        fake.drive.close()
    print(
        f"\nThe demo drive is kept in {data} (serve it with"
        f" `onemount fakegraph serve --data {data}`)."
        "\nNot yet available: `onemount mount` (the FUSE layer and the sync engine are the next"
        " milestones), so the demo stops at the Graph layer."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
