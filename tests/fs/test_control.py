"""The control channel: one daemon per mountpoint, answers only its own user, one JSON line."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from onemount.fs import control


def test_a_request_and_its_answer(tmp_path: Path) -> None:
    mountpoint = tmp_path / "od"
    seen: list[str] = []

    async def handler(command: str) -> control.Answer:
        seen.append(command)
        return {"pending": 3}

    async def main() -> None:
        listener = await control.bind(mountpoint)
        server = control.Server(listener, handler)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run)
            answer = await trio.to_thread.run_sync(
                lambda: control.ask(mountpoint, "status", timeout=10)
            )
            server.close()
        listener.close()
        assert answer == {"pending": 3}

    trio.run(main)
    assert seen == ["status"]


def test_the_mountpoint_is_served_once(tmp_path: Path) -> None:
    async def main() -> None:
        first = await control.bind(tmp_path / "od")
        with first, pytest.raises(control.AlreadyServing):
            await control.bind(tmp_path / "od")
        # A different mountpoint is a different address; the first one is free again.
        (await control.bind(tmp_path / "other")).close()
        (await control.bind(tmp_path / "od")).close()

    trio.run(main)


def test_nobody_serves(tmp_path: Path) -> None:
    with pytest.raises(control.NotServing):
        control.ask(tmp_path / "nothing", "status", timeout=5)
