"""``onemount mount --daemon``: detach, and let the command return only once the mount answers.

The process forks before trio or any thread starts. The parent waits on a pipe; the child
starts a new session (no terminal to lose), sends its output to the log file and mounts. When
the mount answers (:func:`onemount.fs.mount.serve` calls ``ready``) the child writes ``ok``
and the parent exits 0, so a script's next line can use the mount; a mount that fails writes
its exit code and message instead, which the parent prints and exits with. A child that dies
without a word (killed, a crash) closes the pipe, and the parent says where its log is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class Readiness:
    """The child's end of the pipe to the waiting parent (each method once, at most)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def ready(self, message: str) -> None:
        self._send(f"0 {message}")

    def failed(self, code: int, message: str) -> None:
        self._send(f"{code} {message}")

    def _send(self, text: str) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.write(fd, text.encode())
        except BrokenPipeError:
            pass  # the parent was killed meanwhile; nobody waits
        finally:
            os.close(fd)


def detach(log_file: Path) -> Readiness:
    """Fork; the parent exits with the child's word; the child returns its :class:`Readiness`."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        os.close(write_end)
        os._exit(_wait_for_child(read_end, log_file))
    os.close(read_end)
    os.setsid()
    log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    return Readiness(write_end)


def _wait_for_child(fd: int, log_file: Path) -> int:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    word = b"".join(chunks).decode(errors="replace")
    code, _, message = word.partition(" ")
    if not code.isdigit():
        print(f"onemount: the mount daemon stopped before it was ready; see {log_file}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(message, file=sys.stdout if code == "0" else sys.stderr, flush=True)
    return int(code)
