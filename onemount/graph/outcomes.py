"""The observer seam between the HTTP core and whoever tracks connectivity.

The client does not keep connectivity state itself (the declared machine in ``spec/`` owns
those states): it only reports what happened to each request. :class:`Connectivity` turns the
reports into events of that machine; tests can pass their own recorder.
"""

from __future__ import annotations

from typing import Protocol


class OutcomeListener(Protocol):
    """Receives one report per answered request and per give-up; must not block or raise."""

    def request_ok(self) -> None:
        """The service answered with something other than a throttle or an auth failure."""

    def throttled(self, retry_after: float) -> None:
        """The service asked every request to wait ``retry_after`` seconds."""

    def network_error(self) -> None:
        """An operation gave up because no answer came back on any attempt."""

    def auth_failed(self) -> None:
        """No valid token: the provider has none, or the service refused a refreshed one."""


class NullListener:
    """Reports go nowhere: for tools and tests that do not track connectivity."""

    def request_ok(self) -> None:
        pass

    def throttled(self, retry_after: float) -> None:
        pass

    def network_error(self) -> None:
        pass

    def auth_failed(self) -> None:
        pass
