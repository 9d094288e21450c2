"""The client's knobs, with the defaults Graph's documentation and peers' experience suggest."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from onemount.graph.policy import RetryPolicy

GRAPH_URL = "https://graph.microsoft.com/v1.0"
FRAGMENT_UNIT = 320 * 1024  # upload-session fragments must be multiples of 327,680 bytes
MAX_FRAGMENT = 60 * 1024 * 1024  # Graph refuses fragments of 60 MiB and more


@dataclass(frozen=True)
class GraphConfig:
    """Everything tunable about one client.

    ``drive`` is the drive's path below the base URL (``/me/drive`` or ``/drives/{id}``).
    Timeouts are explicit because httpx's default (5 s for everything) is too short for a
    10 MiB fragment on a slow uplink and its pool timeout would fail queued requests early.
    ``rate``/``burst`` pace all requests (a token bucket); ``rate=inf`` disables it.
    ``simple_upload_limit``: files up to this size go in one PUT, which cannot carry
    ``fileSystemInfo`` (the server stamps "now"); 0 sends every non-empty file through a session.
    """

    base_url: str = GRAPH_URL
    drive: str = "/me/drive"
    timeout: httpx.Timeout = field(
        default_factory=lambda: httpx.Timeout(60.0, connect=10.0, pool=60.0)
    )
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rate: float = 50.0
    burst: int = 100
    max_connections: int = 16
    children_page_size: int = 1000
    simple_upload_limit: int = 4 * 1024 * 1024
    fragment_size: int = 32 * FRAGMENT_UNIT  # 10 MiB
    max_session_restarts: int = 2
    download_chunk: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.fragment_size % FRAGMENT_UNIT or not 0 < self.fragment_size < MAX_FRAGMENT:
            raise ValueError(
                f"fragment_size must be a multiple of {FRAGMENT_UNIT} below {MAX_FRAGMENT}"
            )
        if self.simple_upload_limit < 0 or self.download_chunk < 1:
            raise ValueError("upload limit and download chunk must be positive")
