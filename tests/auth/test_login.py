"""msal, unmodified, signing in against the fake authority over a real TLS socket."""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import stat
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from onemount.auth import Authenticator, AuthRequired, LoginFailed
from onemount.auth.config import AuthConfig
from onemount.auth.redact import MASK, TokenRedactor, redact
from tests.auth.conftest import AuthorityServer


def user_approving(server: AuthorityServer) -> Callable[[str], None]:
    """A ``show`` callback that plays the user: it approves the code it is shown."""

    def show(message: str) -> None:
        (code,) = server.authority.pending_user_codes()
        assert code in message
        server.authority.approve_device_code(code)

    return show


async def device_login(auth: Authenticator, server: AuthorityServer) -> str:
    account = await auth.login_device_code(user_approving(server))
    return account.username


class _FormReader(HTMLParser):
    """Reads the self-submitting form of a form_post response, as a browser would."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = named["action"]
        elif tag == "input":
            self.fields[named["name"]] = named["value"]


def browser(server: AuthorityServer) -> Callable[[str], Awaitable[None]]:
    """The user's browser: loads the authorize URL and submits the form it gets back."""

    async def open_url(url: str) -> None:
        trust = ssl.create_default_context(cafile=server.tls.cert)
        async with httpx.AsyncClient(verify=trust) as client:
            page = await client.get(url)
            assert page.status_code == 200
            form = _FormReader()
            form.feed(page.text)
            assert form.action.startswith("http://localhost:")
            # The code must not be accepted in a URL: that is what form_post is for.
            refused = await client.get(form.action, params=form.fields)
            assert "Sign-in finished" not in refused.text
            landed = await client.post(form.action, data=form.fields)
            assert "Sign-in finished" in landed.text

    return open_url


def test_device_code_login_then_silent_token(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    async def main() -> None:
        auth = Authenticator(auth_config)
        assert await device_login(auth, authority_server) == "fake.user@example.com"
        token = await auth.access_token()
        assert authority_server.authority.check_bearer(f"Bearer {token}")

    trio.run(main)
    mode = stat.S_IMODE(auth_config.cache_path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(auth_config.config_dir.stat().st_mode) == 0o700


def test_device_code_pending_until_approved(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    """The login keeps polling through authorization_pending and finishes on approval."""
    authority = authority_server.authority
    answers = authority_server.token_answers

    async def main() -> None:
        auth = Authenticator(auth_config)
        async with trio.open_nursery() as nursery:

            async def user() -> None:
                # The user is slow: a poll has been told to wait before they approve.
                await answers.wait_for("authorization_pending")
                authority.approve_device_code(authority.pending_user_codes()[0])

            nursery.start_soon(user)
            with trio.fail_after(30):
                account = await auth.login_device_code(lambda _msg: None)
        assert account.username == "fake.user@example.com"

    trio.run(main)
    polls = answers.answers()
    assert polls[0] == "authorization_pending" and polls[-1] == "tokens"
    assert set(polls[:-1]) == {"authorization_pending"}


def test_browser_login_with_pkce(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    async def main() -> None:
        auth = Authenticator(auth_config)
        account = await auth.login_browser(browser(authority_server))
        assert account.username == "fake.user@example.com"
        token = await auth.access_token()
        assert authority_server.authority.check_bearer(f"Bearer {token}")

    trio.run(main)


def test_new_process_reuses_cache_and_refreshes_silently(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    """A later run (fresh Authenticator, cache from disk) gets tokens without any prompt,
    and an expired access token is replaced through the rotating refresh token."""
    authority = authority_server.authority

    async def main() -> None:
        await device_login(Authenticator(auth_config), authority_server)
        later = Authenticator(auth_config)
        first = await later.access_token()
        authority.expire_access_tokens()
        assert not authority.check_bearer(f"Bearer {first}")
        refreshed = await later.access_token(force_refresh=True)
        assert refreshed != first
        assert authority.check_bearer(f"Bearer {refreshed}")
        # The rotated refresh token reached the disk: a third process can refresh too.
        authority.expire_access_tokens()
        third = await Authenticator(auth_config).access_token(force_refresh=True)
        assert authority.check_bearer(f"Bearer {third}")

    trio.run(main)


def test_revoked_refresh_token_raises_auth_required(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    async def main() -> None:
        auth = Authenticator(auth_config)
        await device_login(auth, authority_server)
        authority_server.authority.revoke_refresh_tokens()
        with pytest.raises(AuthRequired):
            await auth.access_token(force_refresh=True)

    trio.run(main)


def test_not_signed_in_raises_auth_required(auth_config: AuthConfig) -> None:
    async def main() -> None:
        with pytest.raises(AuthRequired):
            await Authenticator(auth_config).access_token()

    trio.run(main)


def test_logout_forgets_tokens(auth_config: AuthConfig, authority_server: AuthorityServer) -> None:
    async def main() -> None:
        auth = Authenticator(auth_config)
        await device_login(auth, authority_server)
        assert (await trio.to_thread.run_sync(auth.status)).account is not None
        await auth.logout()
        assert not auth_config.cache_path.exists()
        assert (await trio.to_thread.run_sync(auth.status)).account is None
        with pytest.raises(AuthRequired):
            await Authenticator(auth_config).access_token()

    trio.run(main)


def test_no_token_in_debug_logs(
    auth_config: AuthConfig, authority_server: AuthorityServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Both flows and a refresh with every logger at DEBUG: no token string in any record."""
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        auth = Authenticator(auth_config)
        await device_login(auth, authority_server)
        await auth.login_browser(browser(authority_server))
        authority_server.authority.expire_access_tokens()
        await auth.access_token(force_refresh=True)

    trio.run(main)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "/common/oauth2/v2.0/token" in text  # the token requests were logged, at DEBUG
    tokens = authority_server.authority.issued_tokens()
    assert len(tokens) >= 6
    leaked = [token for token in tokens if token in text]
    assert leaked == []


def test_cache_file_not_rewritten_when_unchanged(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    async def main() -> None:
        auth = Authenticator(auth_config)
        await device_login(auth, authority_server)
        before = auth_config.cache_path.stat().st_ino
        await auth.access_token()  # served from the cache: nothing changed
        assert auth_config.cache_path.stat().st_ino == before

    trio.run(main)


def test_cache_path_is_under_xdg_config_home(auth_config: AuthConfig, tmp_path: Path) -> None:
    assert auth_config.cache_path.parent == tmp_path / "config" / "onemount"


def test_expired_device_code_fails_the_login(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    authority_server.authority.device_code_ttl = 0

    async def main() -> None:
        with pytest.raises(LoginFailed, match="expired"):
            await Authenticator(auth_config).login_device_code(lambda _msg: None)

    trio.run(main)
    assert not auth_config.cache_path.exists()


def test_device_code_login_is_cancellable(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    """A cancel scope ends a pending sign-in (the user never approves) without tokens."""

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def user_walks_away() -> None:
                    # Cancelled once the login is polling, i.e. really waiting for the user.
                    await authority_server.token_answers.wait_for("authorization_pending")
                    scope.cancel()

                nursery.start_soon(user_walks_away)
                with trio.fail_after(30):
                    await Authenticator(auth_config).login_device_code(lambda _msg: None)
        assert scope.cancelled_caught

    trio.run(main)
    assert authority_server.authority.pending_user_codes()  # still waiting for the user
    assert not auth_config.cache_path.exists()


def test_running_process_picks_up_a_login_from_another(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    """The mount, stuck in AUTH_REQUIRED, recovers once ``auth login`` has run elsewhere,
    and likewise notices a logout."""

    async def main() -> None:
        mount = Authenticator(auth_config)
        with pytest.raises(AuthRequired):
            await mount.access_token()
        await device_login(Authenticator(auth_config), authority_server)
        token = await mount.access_token()
        assert authority_server.authority.check_bearer(f"Bearer {token}")
        await Authenticator(auth_config).logout()
        with pytest.raises(AuthRequired):
            await mount.access_token()

    trio.run(main)


@dataclass(frozen=True)
class FileIo:
    kind: str  # read, write, rename, remove, mkdir, chmod
    path: Path
    thread: int  # threading.get_ident() of the thread that did it


_FILE_EVENTS = {"open", "os.rename", "os.remove", "os.mkdir", "os.chmod"}
_recording: tuple[Path, list[FileIo]] | None = None
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    recording = _recording
    if recording is None or event not in _FILE_EVENTS or not args:
        return
    if not isinstance(args[0], str | bytes | os.PathLike):
        return  # an fd (os.fdopen, os.fchmod): its open was recorded already
    path = Path(os.fsdecode(args[0]))
    directory, events = recording
    if directory != path and directory not in path.parents:
        return
    kind = event.removeprefix("os.")
    if event == "open":
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else os.O_RDONLY
        kind = "read" if flags & os.O_ACCMODE == os.O_RDONLY else "write"
    events.append(FileIo(kind, path, threading.get_ident()))


@contextlib.contextmanager
def recording_file_io(directory: Path) -> Iterator[list[FileIo]]:
    """Every file operation under ``directory`` while the block runs, with its thread.

    Through Python's audit hooks (PEP 578), so the real cache code runs unchanged; a hook
    cannot be removed, so it is installed once and idles outside this block.
    """
    global _recording, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    events: list[FileIo] = []
    _recording = (directory, events)
    try:
        yield events
    finally:
        _recording = None


def test_the_token_cache_is_read_and_written_off_the_trio_thread(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    """Every save, reload and removal of the cache runs on a worker thread: an fsync on
    trio's thread would stall every request of the mount behind it."""
    authority = authority_server.authority
    trio_thread = threading.get_ident()

    async def main() -> None:
        assert threading.get_ident() == trio_thread
        first = Authenticator(auth_config)
        await device_login(first, authority_server)  # saves the new tokens
        authority.expire_access_tokens()
        await first.access_token(force_refresh=True)  # saves the rotated refresh token
        other = Authenticator(auth_config)  # another process: reads the file, refreshes
        authority.expire_access_tokens()
        theirs = await other.access_token(force_refresh=True)
        assert await first.access_token() == theirs  # first re-read what the other wrote
        await first.logout()

    with recording_file_io(auth_config.config_dir) as events:
        trio.run(main)
    cache = auth_config.cache_path
    assert {e.kind for e in events if e.path == cache} >= {"read", "remove"}
    assert any(e.kind == "write" for e in events if e.path.parent == cache.parent)
    assert any(e.kind == "rename" for e in events)
    on_trio = [e for e in events if e.thread == trio_thread]
    assert on_trio == []


def test_browser_response_with_a_forged_state_is_rejected(
    auth_config: AuthConfig, authority_server: AuthorityServer
) -> None:
    """A POST to the loopback port that did not come from our authorize request (wrong
    ``state``) must not sign anyone in."""
    trust = ssl.create_default_context(cafile=authority_server.tls.cert)

    async def forger(url: str) -> None:
        async with httpx.AsyncClient(verify=trust) as client:
            form = _FormReader()
            form.feed((await client.get(url)).text)
            await client.post(form.action, data={**form.fields, "state": "forged"})

    async def main() -> None:
        with pytest.raises(LoginFailed):
            await Authenticator(auth_config).login_browser(forger)

    trio.run(main)
    assert not auth_config.cache_path.exists()


def test_redactor_masks_credential_shapes() -> None:
    """The handler filter catches what a careless log line could carry."""
    samples = {
        "Authorization: Bearer abcdefgh12345678": "abcdefgh12345678",
        "data={'refresh_token': 'r-ABCDEFGH.12345'}": "r-ABCDEFGH.12345",
        "POST body grant_type=x&code=SplxlOBeZQQYbYS6WxSbIA&state=1": "SplxlOBeZQQYbYS6WxSbIA",
        "id eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    }
    for line, secret in samples.items():
        cleaned = redact(line)
        assert secret not in cleaned
        assert MASK in cleaned
    assert redact("GET /me/drive/root/delta?token=latest 200") == (
        "GET /me/drive/root/delta?token=latest 200"
    )
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "token %s", ("Bearer s3cr3tvalue",), None
    )
    assert TokenRedactor().filter(record)
    assert "s3cr3tvalue" not in record.getMessage()
