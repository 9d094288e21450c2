"""Where msal's token cache is kept between runs: the system keyring, or a 0600 file.

The file is the dependable default: a refresh token is as good as a password for 90 days, so
it lives in a 0700 directory, in a file created 0600 (never widened and then narrowed), written
to a temporary name, fsynced and renamed so a crash leaves either the old cache or the new one,
never half of each. It is written only when msal says the cache changed, which keeps the
steady state (silent token from the in-memory cache) free of disk writes.

Every method here blocks on the disk (or on D-Bus, for the keyring): under trio they are called
from a worker thread (``trio.to_thread.run_sync``), never from trio's own thread, which would
stall every request of the mount behind an fsync. So a store may be used from several threads
at once: :class:`FileTokenStore` serialises its own methods, and each save writes a temporary
file of its own, so two stores on one path (or two processes) never write into each other's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Protocol

import msal

log = logging.getLogger(__name__)


class TokenStore(Protocol):
    """A msal cache plus the means to persist it. Every method may block: call from a thread."""

    cache: msal.SerializableTokenCache

    @property
    def location(self) -> str:
        """Where the tokens are, for ``onemount auth status``."""
        ...

    def save(self) -> None:
        """Persist the cache if it changed since it was loaded or last saved."""
        ...

    def clear(self) -> None:
        """Forget every token, in memory and at rest."""
        ...

    def reload_if_changed(self) -> None:
        """Adopt what another process (``onemount auth login``) wrote since we last looked."""
        ...


class FileTokenStore:
    """The msal cache in ``path`` (0600) inside a 0700 directory. Reads it when created."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache = msal.SerializableTokenCache()
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) last read/written
        self._lock = threading.Lock()  # one save, reload or clear at a time
        self.reload_if_changed()

    @property
    def location(self) -> str:
        return str(self.path)

    def save(self) -> None:
        with self._lock:
            if not self.cache.has_state_changed:
                return
            # Cleared before serialising: a change msal makes meanwhile (another thread) sets
            # it again and is saved next time, instead of being marked saved without being so.
            self.cache.has_state_changed = False
            try:
                self._write(self.cache.serialize())
            except BaseException:
                self.cache.has_state_changed = True
                raise
            self._seen = self._stamp()

    def _write(self, text: str) -> None:
        _private_dir(self.path.parent)
        # Ours alone: another thread's or process's save never writes into this one's file.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a leftover of a killed save keeps its mode through O_CREAT
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def reload_if_changed(self) -> None:
        # A stat per token request is the whole cost; the file is re-read only after another
        # process replaced it (each save is a rename, so the inode changes). Unsaved changes
        # of our own are never thrown away: save() always runs right after msal changes them.
        with self._lock:
            stamp = self._stamp()
            if stamp == self._seen or self.cache.has_state_changed:
                return
            self._seen = stamp
            if stamp is None:
                _forget_all(self.cache)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.cache.deserialize(self.path.read_text(encoding="utf-8"))
            self.cache.has_state_changed = False

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def clear(self) -> None:
        with self._lock:
            _forget_all(self.cache)
            self.cache.has_state_changed = False
            self.path.unlink(missing_ok=True)
            self._seen = None


class KeyringTokenStore:
    """The msal cache in the Secret Service, through msal-extensions (optional extra)."""

    def __init__(self, cache: msal.SerializableTokenCache, location: str) -> None:
        self.cache = cache
        self._location = location

    @property
    def location(self) -> str:
        return self._location

    def save(self) -> None:
        # PersistedTokenCache writes through on every change; nothing is pending here.
        return None

    def reload_if_changed(self) -> None:
        # PersistedTokenCache reloads by itself when the keyring entry changes.
        return None

    def clear(self) -> None:
        _forget_all(self.cache)


def open_token_store(path: Path, *, use_keyring: bool) -> TokenStore:
    """The keyring store when asked for and available, else the file store.

    The keyring needs msal-extensions, PyGObject and a running Secret Service over D-Bus,
    which headless servers and containers lack; falling back is expected there, and the
    warning says so, because the user should know the token is in a file.
    """
    if use_keyring:
        try:
            from msal_extensions import PersistedTokenCache, build_encrypted_persistence
        except ImportError:
            # The optional extra is not installed: the file is the expected choice, not news.
            log.debug("msal-extensions not installed; tokens go to %s (mode 0600)", path)
            return FileTokenStore(path)
        try:
            persistence = build_encrypted_persistence(str(path.with_suffix(".keyring")))
            return KeyringTokenStore(PersistedTokenCache(persistence), "system keyring")
        except Exception as exc:  # any D-Bus, libsecret or PyGObject failure
            log.warning("system keyring unavailable (%s); tokens go to %s (mode 0600)", exc, path)
    return FileTokenStore(path)


def _forget_all(cache: msal.SerializableTokenCache) -> None:
    kinds = msal.TokenCache.CredentialType
    for kind in (
        kinds.ACCESS_TOKEN,
        kinds.REFRESH_TOKEN,
        kinds.ID_TOKEN,
        kinds.ACCOUNT,
        kinds.APP_METADATA,
    ):
        for entry in list(cache.search(kind)):
            cache.modify(kind, entry)


def _private_dir(path: Path) -> None:
    """Create ``path`` as 0700, or narrow it to 0700: it is onemount's own directory."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable, not only the file's content."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
