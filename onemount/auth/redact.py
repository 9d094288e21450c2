"""A logging filter that masks anything shaped like a credential, as defence in depth.

msal already masks tokens in its own debug output, and onemount never logs one on purpose; this
filter is for the line nobody foresaw (an exception text with a request body, a header dump).
Attach it to a *handler* (``handler.addFilter(TokenRedactor())``): a filter on a logger does not
see records that propagate from its children.
"""

from __future__ import annotations

import logging
import re

MASK = "********"

_PATTERNS = (
    # Authorization: Bearer <token>
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # access_token=..., "refresh_token": "...", id_token / code / device_code / code_verifier
    re.compile(
        r"""(?i)((?:access_token|refresh_token|id_token|device_code|code_verifier|client_secret|"""
        r"""(?<![a-z_])code)["']?\s*[:=]\s*["']?)[A-Za-z0-9._~+/=-]{8,}"""
    ),
    # Any JWT: three base64url parts, the first one a JSON header ("eyJ" is '{"' encoded).
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
)


def redact(text: str) -> str:
    """``text`` with every credential-shaped value replaced by ``MASK``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


class TokenRedactor(logging.Filter):
    """Rewrites each record's message through :func:`redact`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
