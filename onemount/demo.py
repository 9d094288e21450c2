"""``make demo``: OneDrive mounted for real at ``./demo-mount``, from a fake Graph, and a tour.

Nothing is simulated but the server. The fake Graph (onemount/fakegraph) runs in its own process
on 127.0.0.1 with a sample drive seeded for the demo (the fake's sample plus a few hundred files
in nested folders and a few large ones); ``onemount mount --graph-url … --token-file …`` mounts
it through FUSE exactly as anyone can; the tour then runs ordinary commands (``ls``, ``cat``,
``echo >``, ``onemount status``) and prints what they print, and acts as "another device"
through the fake's admin API. It stops the fake to take the network away, and starts it again.

Everything it makes lives in ``.demo/`` (the drive, the mount's cache and store, the token,
the fake's log) beside ``demo-mount/``; a new run first stops the previous demo and starts
from a fresh drive, so the tour is the same every time. The mount and the fake stay up at the
end, to explore; ``make demo-stop`` (``python -m onemount.demo --stop``) stops both.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import json
import os
import random
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from onemount.fakegraph import FakeDrive
from onemount.fs import control
from onemount.fs.mountpoint import mounted_at

#: The longest any one step may take before the demo says what did not happen.
STEP_TIMEOUT = 45.0
_POLL = 0.1
_LARGE = {
    "Videos/Holiday 2024.mp4": 40 << 20,
    "Backups/laptop-2025.tar": 24 << 20,
    "Music/Concert (live).flac": 16 << 20,
}
_YEARS = range(2021, 2025)


class DemoFailed(Exception):
    """A step did not do what the tour says it does; the message says which, and where to look."""


@dataclass(frozen=True)
class Layout:
    """Where a demo keeps its things: ``root/.demo/`` and the mountpoint ``root/demo-mount``."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / ".demo"

    @property
    def mountpoint(self) -> Path:
        return self.root / "demo-mount"

    @property
    def drive(self) -> Path:
        return self.state / "drive"

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def token(self) -> Path:
        return self.state / "token"

    @property
    def config(self) -> Path:
        return self.state / "config.toml"

    @property
    def fake_log(self) -> Path:
        return self.state / "fake.log"

    @property
    def fake_pid(self) -> Path:
        return self.state / "fake.pid"

    @property
    def mount_log(self) -> Path:
        return self.cache / "onemount.log"

    def shown(self, path: Path) -> str:
        """``path`` as the tour prints it: relative to the folder the demo runs in."""
        return os.path.relpath(path, self.root)


# -- the drive ---------------------------------------------------------------------------------


def seed(layout: Layout) -> tuple[int, int, int]:
    """A new drive in ``layout.drive``: the fake's sample, a few hundred notes in nested
    folders, a small website, and a few large files. Returns (files, folders, bytes)."""
    from onemount.fakegraph import build

    fake = build(layout.drive, seed="sample")
    drive = fake.drive
    rng = random.Random(2025)

    def folder(path: str) -> str:
        current = drive.root_id
        for name in path.split("/"):
            found = drive.child(current, name)
            current = found.id if found is not None else drive.create_folder(current, name).id
        return current

    try:
        with drive.batch():
            for year in _YEARS:
                for month in range(1, 13):
                    parent = folder(f"Archive/{year}/{month:02d}")
                    for n in range(1, 7):
                        text = f"Notes {year}-{month:02d} #{n}\n\n{rng.choice(_NOTES)}\n"
                        drive.put_bytes(parent, f"notes-{n}.txt", text.encode())
            for page in ("index", "about", "blog", "contact"):
                drive.put_bytes(folder("Projects/website"), f"{page}.html", _html(page))
                drive.put_bytes(folder("Projects/website/css"), f"{page}.css", b"body{}\n")
                drive.put_bytes(folder("Projects/website/img"), f"{page}.png", rng.randbytes(9000))
            for path, nbytes in _LARGE.items():
                parent_path, name = path.rsplit("/", 1)
                drive.put_bytes(folder(parent_path), name, rng.randbytes(nbytes))
        files, folders = _count(drive, drive.root_id)
        return files, folders, drive.get(drive.root_id).size  # a folder's size: all below it
    finally:
        drive.close()


def _count(drive: FakeDrive, folder_id: str) -> tuple[int, int]:
    """(files, folders) below ``folder_id``."""
    files = folders = 0
    for child in drive.children(folder_id, None, 100_000):
        if child.is_folder:
            below = _count(drive, child.id)
            files, folders = files + below[0], folders + below[1] + 1
        else:
            files += 1
    return files, folders


_NOTES = (
    "Call the plumber about the kitchen tap.",
    "Ideas: a bike trip along the river, a weekend without a phone.",
    "Book club: finish chapter 7 before Thursday.",
    "Remember to back up the photos.",
    "Garden: tomatoes in, basil next week.",
)


def _html(page: str) -> bytes:
    return f"<!doctype html><title>{page}</title><h1>{page.title()}</h1>\n".encode()


# -- the fake Graph's process --------------------------------------------------------------------


@dataclass(frozen=True)
class Fake:
    """The fake Graph serving ``layout.drive`` from its own process."""

    pid: int
    origin: str  # http://127.0.0.1:PORT
    token: str

    @property
    def graph_url(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def admin_url(self) -> str:
        return f"{self.origin}/_fake"

    @property
    def port(self) -> int:
        return int(self.origin.rsplit(":", 1)[1])


def start_fake(layout: Layout, port: int = 0) -> Fake:
    """Serve the drive in a new session (it outlives the demo); return once it listens."""
    with layout.fake_log.open("ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", "onemount", "fakegraph", "serve", "--data", str(layout.drive),
             "--port", str(port), "--json"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
    layout.fake_pid.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        with layout.fake_log.open("rb") as log:
            log.seek(offset)
            for line in log:
                if line.startswith(b"{"):
                    endpoint = json.loads(line)
                    origin = str(endpoint["base_url"]).removesuffix("/v1.0")
                    return Fake(process.pid, origin, str(endpoint["token"]))
        if process.poll() is not None:
            break
        time.sleep(_POLL)
    raise DemoFailed(f"the fake Graph did not start; see {layout.shown(layout.fake_log)}")


def stop_fake(layout: Layout) -> bool:
    """Stop the fake recorded in ``layout`` (SIGTERM, then wait); False if none was running."""
    try:
        pid = int(layout.fake_pid.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    if b"fakegraph" not in cmdline or os.fsencode(layout.drive) not in cmdline:
        return False  # the pid was reused by something else: not ours to stop
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
        if not select.select([fd], [], [], STEP_TIMEOUT)[0]:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):  # our own child, when the tour stops it
        os.waitpid(pid, os.WNOHANG)
    layout.fake_pid.unlink(missing_ok=True)
    return True


# -- running things as a user would ---------------------------------------------------------------


def onemount_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "onemount", *args]


class Tour:
    """The tour: each step runs real commands in ``layout.root``, printing them and their output."""

    def __init__(self, layout: Layout, fake: Fake, *, out: Callable[[str], None] = print) -> None:
        self.layout = layout
        self.fake = fake
        self.out = out
        self.mount = layout.shown(layout.mountpoint)
        self.http = httpx.Client(timeout=10.0)

    # -- showing -----------------------------------------------------------------------------

    def heading(self, text: str) -> None:
        self.out(f"\n== {text} ==")

    def say(self, text: str) -> None:
        self.out(f"   {text}")

    def run(self, argv: Sequence[str], *, shown: str | None = None, ok: bool = True) -> str:
        """Run ``argv`` in the demo folder, print ``$ shown`` and its output; return the output.

        ``onemount`` commands run in this process (the same ``main`` the executable calls,
        without an interpreter's start-up each time), but ``mount``, which forks its daemon.
        """
        display = shown or shlex.join(argv)
        self.out(f"$ {display}")
        if argv[0] == "onemount" and argv[1] != "mount":
            code, output = _in_process(argv[1:])
        else:
            if argv[0] == "onemount":
                argv = onemount_argv(*argv[1:])
            done = subprocess.run(
                list(argv),
                cwd=self.layout.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # in the order a terminal would show them
                text=True,
                timeout=120,
            )
            code, output = done.returncode, done.stdout
        for line in output.splitlines():
            self.out(f"  {line}")
        if ok and code != 0:
            raise DemoFailed(f"`{display}` failed (exit {code}); see {self._logs()}")
        if not ok:
            self.out(f"  (exit status {code})")
        return output

    def shell(self, command: str) -> str:
        return self.run(["sh", "-c", command], shown=command)

    def status(self, *relative: str) -> None:
        self.run(["onemount", "status", *(f"{self.mount}/{r}" for r in relative)])

    # -- looking -----------------------------------------------------------------------------

    def path(self, relative: str) -> Path:
        return self.layout.mountpoint / relative

    def connectivity(self) -> str:
        return str(control.ask(self.layout.mountpoint, "status", timeout=10)["connectivity"])

    def until(self, what: str, check: Callable[[], bool]) -> float:
        """Wait for ``check`` (polled); the seconds it took, or DemoFailed naming ``what``."""
        start = time.monotonic()
        while not check():
            if time.monotonic() - start > STEP_TIMEOUT:
                raise DemoFailed(f"{what} did not happen in {STEP_TIMEOUT:g} s; see {self._logs()}")
            time.sleep(_POLL)
        return time.monotonic() - start

    def _logs(self) -> str:
        layout = self.layout
        return f"{layout.shown(layout.mount_log)} and {layout.shown(layout.fake_log)}"

    def another_device_writes(self, relative: str, text: str) -> None:
        item_id = os.getxattr(self.path(relative), "user.onemount.id").decode()
        answer = self.http.patch(f"{self.fake.admin_url}/items/{item_id}", json={"text": text})
        answer.raise_for_status()
        self.say(f"another device saves {relative} (the fake's admin API: PATCH /_fake/items/…)")

    def server_has(self, relative: str) -> bytes:
        answer = self.http.get(
            f"{self.fake.graph_url}/me/drive/root:/{relative}:/content",
            headers={"Authorization": f"Bearer {self.fake.token}"},
            follow_redirects=True,
        )
        answer.raise_for_status()
        return answer.content

    # -- the steps ---------------------------------------------------------------------------

    def mount_it(self) -> None:
        layout = self.layout
        self.heading("1. Mount it, as anyone can")
        self.run(
            ["onemount", "mount", self.mount, "--graph-url", self.fake.graph_url,
             "--token-file", layout.shown(layout.token), "--cache-dir", layout.shown(layout.cache),
             "--config", layout.shown(layout.config), "--daemon"],
        )  # fmt: skip
        self.until("the first enumeration", lambda: bool(self._report()["enumerated"]))
        self.run(["ls", self.mount])
        self.say("every file shows at once; its bytes come only when something opens it:")
        self.status("Documents", "Archive", "Videos/Holiday 2024.mp4")

    def hydrate(self) -> None:
        self.heading("2. Open a file: GHOST becomes HYDRATED")
        welcome = "Documents/Welcome.txt"
        self.status(welcome)
        self.run(["cat", f"{self.mount}/{welcome}"])
        # cat is served as the bytes land; the download commits (hash checked) right after.
        self.until("Welcome.txt's download", lambda: self._state(welcome) == "HYDRATED")
        self.status(welcome)
        self.say("pin a folder: its files download now and are never evicted")
        self.run(["onemount", "pin", f"{self.mount}/Music"])

    def upload(self) -> None:
        self.heading("3. Write a new file: it is uploaded")
        stamp = datetime.now().strftime("%H:%M:%S")
        self.shell(f'echo "Written through the mount at {stamp}" > "{self.mount}/Hello.txt"')
        self.status("Hello.txt")
        self.run(["onemount", "status", "--wait", self.mount])
        self.status("Hello.txt")
        self.say(f"the server has it: {self.server_has('Hello.txt').decode().strip()!r}")

    def remote_edit(self) -> None:
        self.heading("4. Another device edits a file: a notification brings it")
        note = "Documents/Shopping list.md"
        self.run(["cat", f"{self.mount}/{note}"])
        text = "# Shopping\n\n- coffee\n- bread\n- (from the phone) oranges\n"
        self.another_device_writes(note, text)
        took = self.until(
            "the other device's edit reaching the mount", lambda: self._reads(note) == text
        )
        self.say(f"visible in the mount {took:.1f} s later (a change notification woke its delta)")
        self.run(["cat", f"{self.mount}/{note}"])

    def offline(self) -> None:
        self.heading("5. The server goes away")
        stop_fake(self.layout)
        self.say("the fake Graph is stopped; the mount notices on its next request")
        took = self.until("the mount going OFFLINE", lambda: self.connectivity() == "OFFLINE")
        self.say(f"OFFLINE after {took:.1f} s")
        self.say("a file already here still reads:")
        self.run(["cat", f"{self.mount}/Documents/Welcome.txt"])
        self.say("a GHOST file is refused at once, with its reason (ENETDOWN), not a hang:")
        self.status("Archive/2023/07/notes-3.txt")
        self.run(["cat", f"{self.mount}/Archive/2023/07/notes-3.txt"], ok=False)
        self.say("changes are kept, and `status --wait` says why they cannot leave now:")
        self.shell(f'echo "Written while offline" > "{self.mount}/Offline note.txt"')
        self.run(["onemount", "status", "--wait", self.mount], ok=False)

    def online(self) -> None:
        self.heading("6. Back online")
        self.fake = start_fake(self.layout, port=self.fake.port)
        took = self.until("the mount coming back ONLINE", lambda: self.connectivity() == "ONLINE")
        self.say(f"the fake Graph is back; its probe found it after {took:.1f} s")
        self.run(["onemount", "status", "--wait", self.mount])
        self.say(f"the server has it: {self.server_has('Offline note.txt').decode().strip()!r}")

    def conflict(self) -> None:
        self.heading("7. A conflict, on purpose: both versions are kept")
        note = "Documents/Shopping list.md"
        self.shell(f'echo "- (this machine) tea" >> "{self.mount}/{note}"')
        self.another_device_writes(note, "# Shopping\n\n- (the phone, again) chocolate\n")
        self.run(["onemount", "status", "--wait", self.mount])
        self.run(["ls", f"{self.mount}/Documents"])
        copies = glob.glob(glob.escape(str(self.path("Documents"))) + "/Shopping list (conflict*")
        if len(copies) != 1:
            raise DemoFailed(f"expected one conflict copy of {note}, found {copies}")
        copy = f"{self.mount}/Documents/{Path(copies[0]).name}"
        self.say("the server's version keeps the name; this machine's is the conflict copy:")
        self.run(["cat", f"{self.mount}/{note}"])
        self.run(["cat", copy])

    def finish(self, elapsed: float) -> None:
        command = Path(sys.executable).parent / "onemount"
        if command.is_relative_to(self.layout.root):
            command = Path(self.layout.shown(command))
        hint = "" if shutil.which("onemount") else f" (onemount is {command})"
        self.heading(f"Done in {elapsed:.0f} s. The mount stays up at ./{self.mount}")
        self.out(
            f"   Explore it: ls, cat and edit files in {self.mount}/; `onemount status`,"
            f" `onemount pin {self.mount}/Pictures`, `onemount stats {self.mount}`{hint}."
            f"\n   Act as another device with the fake's admin API at {self.fake.admin_url}"
            " (docs/fakegraph.md)."
            f"\n   Stop: `onemount unmount ./{self.mount}` (the fake keeps running), or"
            " `make demo-stop` (both)."
        )

    def _report(self) -> dict[str, Any]:
        return control.ask(self.layout.mountpoint, "report", timeout=10)

    def _state(self, relative: str) -> str:
        return os.getxattr(self.path(relative), "user.onemount.state").decode()

    def _reads(self, relative: str) -> str:
        return self.path(relative).read_text()


def _in_process(argv: Sequence[str]) -> tuple[int, str]:
    """``onemount ARGV``'s exit status and output (stdout and stderr in the order written)."""
    from onemount.cli import main as onemount_main

    written = io.StringIO()
    with contextlib.redirect_stdout(written), contextlib.redirect_stderr(written):
        try:
            code = onemount_main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, written.getvalue()


# -- start and stop ------------------------------------------------------------------------------


def stop(layout: Layout, *, say: Callable[[str], None] = print) -> int:
    """Unmount the demo and stop its fake (``make demo-stop``); 1 if the mount is busy."""
    code = 0
    if mounted_at(layout.mountpoint) is not None:
        done = subprocess.run(
            onemount_argv("unmount", str(layout.mountpoint)), capture_output=True, text=True
        )
        say((done.stdout + done.stderr).strip())
        code = 0 if done.returncode == 0 else 1
    if stop_fake(layout):
        say("stopped the fake Graph")
    return code


def prepare(layout: Layout) -> tuple[int, int, int]:
    """A fresh demo folder: the previous demo stopped, a new drive, a token and a config."""
    if stop(layout, say=lambda line: print(f"(the previous demo) {line}")) != 0:
        raise DemoFailed(
            f"./{layout.shown(layout.mountpoint)} is still in use: close what has files open"
            " there (a shell inside it?) and run the demo again"
        )
    shutil.rmtree(layout.state, ignore_errors=True)
    layout.state.mkdir(mode=0o700, parents=True)
    layout.mountpoint.mkdir(exist_ok=True)
    layout.config.write_text(
        "# The demo mount's configuration (docs/config.md): the defaults, and not yours.\n"
    )
    return seed(layout)


def tour(layout: Layout) -> int:
    started = time.monotonic()
    os.chdir(layout.root)  # the tour's commands name paths as a user there would
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # through a pipe too, a line at a time
    print("onemount demo: a fake OneDrive, mounted for real through FUSE")
    files, folders, nbytes = prepare(layout)
    fake = start_fake(layout)
    layout.token.write_text(fake.token + "\n")
    layout.token.chmod(0o600)
    print(f"   the drive: {files} files in {folders} folders ({nbytes / (1 << 20):.0f} MiB),")
    print(f"   served by the fake Graph at {fake.graph_url} (its log: .demo/fake.log)")
    demo = Tour(layout, fake)
    steps = (demo.mount_it, demo.hydrate, demo.upload, demo.remote_edit, demo.offline,
             demo.online, demo.conflict)  # fmt: skip
    for step in steps:
        step()
    demo.finish(time.monotonic() - started)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m onemount.demo",
        description="Mount a fake OneDrive at ./demo-mount and tour it (make demo).",
    )
    parser.add_argument("--stop", action="store_true", help="unmount and stop the fake")
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="where demo-mount/ and .demo/ go"
    )
    args = parser.parse_args(argv)
    layout = Layout(args.root.absolute())
    try:
        return stop(layout) if args.stop else tour(layout)
    except DemoFailed as exc:
        print(f"\nthe demo stopped: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
