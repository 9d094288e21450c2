"""Connectivity: the client's reports drive the declared machine; throttles expire on their own."""

from __future__ import annotations

import trio
import trio.testing

from onemount.graph import Connectivity
from onemount.statemachine import compiled


def run_mocked(main: object) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]


def test_reports_move_the_declared_machine() -> None:
    async def main() -> None:
        link = Connectivity()
        assert link.state == compiled("connectivity").initial == "ONLINE"
        link.network_error()
        assert link.state == "OFFLINE"
        link.probe_ok()
        assert link.state == "ONLINE"
        link.auth_failed()
        link.request_ok()  # an answer does not sign the user back in
        assert link.state == "AUTH_REQUIRED"
        link.auth_renewed()
        assert link.state == "ONLINE"

    run_mocked(main)


def test_waiting_for_online_expires_the_throttle_at_its_time() -> None:
    async def main() -> None:
        link = Connectivity()
        link.throttled(10)
        await trio.sleep(4)
        link.throttled(3)  # shorter than what remains: the pause still ends at 10
        assert link.state == "THROTTLED"
        await link.wait_online()
        assert trio.current_time() == 10 and link.state == "ONLINE"

    run_mocked(main)


def test_waiting_for_online_returns_when_an_answer_comes_back() -> None:
    async def main() -> None:
        link = Connectivity()
        link.network_error()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.wait_online)
            await trio.sleep(7)
            assert link.state == "OFFLINE"
            link.request_ok()
        assert trio.current_time() == 7

    run_mocked(main)
