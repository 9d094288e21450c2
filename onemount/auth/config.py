"""Which app registration and authority to sign in with, and where the token cache lives.

Every setting comes, in order of precedence, from a command-line flag, an environment variable
(``ONEMOUNT_CLIENT_ID``, ``ONEMOUNT_AUTHORITY``, ``ONEMOUNT_CA_BUNDLE``), the ``[auth]`` table
of ``$XDG_CONFIG_HOME/onemount/config.toml``, or the default. There is deliberately no default
client id: borrowing another project's registration borrows its consent screen and throttling
identity, so the user registers their own (docs/auth.md).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from onemount.auth.errors import AuthError

DEFAULT_AUTHORITY = "https://login.microsoftonline.com/common"
# msal adds offline_access, openid and profile itself and refuses them here.
SCOPES = ("Files.ReadWrite.All", "User.Read")
CACHE_FILENAME = "msal_token_cache.json"


@dataclass(frozen=True)
class AuthConfig:
    """Resolved settings. ``ca_bundle`` trusts an extra CA for a non-Microsoft authority
    (the fake one in tests, or a TLS-inspecting proxy); ``use_keyring`` tries the system
    keyring before the 0600 file."""

    client_id: str
    authority: str
    config_dir: Path
    ca_bundle: str | None = None
    use_keyring: bool = True
    scopes: tuple[str, ...] = SCOPES

    @property
    def cache_path(self) -> Path:
        return self.config_dir / CACHE_FILENAME


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/onemount``, or ``~/.config/onemount`` when the variable is unset."""
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "onemount"


def load_config(
    *,
    client_id: str | None = None,
    authority: str | None = None,
    use_keyring: bool | None = None,
    env: Mapping[str, str] = os.environ,
    client_id_required: bool = True,
) -> AuthConfig:
    """Resolve the settings; raises ``AuthError`` when no client id is configured anywhere,
    unless ``client_id_required`` is false (status and logout read the cache, not the app)."""
    directory = config_dir(env)
    table = _file_table(directory / "config.toml")
    resolved_id = client_id or env.get("ONEMOUNT_CLIENT_ID") or table.get("client_id")
    if not resolved_id and client_id_required:
        raise AuthError(
            "no client id: pass --client-id, set ONEMOUNT_CLIENT_ID, or put client_id under "
            f"[auth] in {directory / 'config.toml'} (see docs/auth.md to register an app)"
        )
    keyring = table.get("use_keyring", True) if use_keyring is None else use_keyring
    ca_bundle = env.get("ONEMOUNT_CA_BUNDLE") or table.get("ca_bundle")
    return AuthConfig(
        client_id=str(resolved_id or ""),
        authority=str(
            authority or env.get("ONEMOUNT_AUTHORITY") or table.get("authority", DEFAULT_AUTHORITY)
        ),
        config_dir=directory,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
        use_keyring=bool(keyring),
    )


def _file_table(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise AuthError(f"{path}: {exc}") from exc
    table = data.get("auth", {})
    return table if isinstance(table, dict) else {}
