"""Files through onemount's mount, against native disk and against rclone's mount, in one run.

Every figure is the same work done three times in this run: on a folder of the native disk (the
**baseline**), through ``onemount mount``, and through ``rclone mount --vfs-cache-mode full``
(the peer a user would pick instead), so each row appears twice in the table, onemount and
rclone, each with its ratio to native:

* **ls -lR** and **stat of every file** over a tree of 100,000 items (folders of 100 empty
  files, the fake's ``populate``), right after a mount (the kernel knows nothing yet: "cold")
  and again (the kernel's caches answer: "warm"); native's caches are warm.
* **sequential read of a hydrated 1 GiB file**: the first read (the file's pages dropped from
  every page cache involved with ``POSIX_FADV_DONTNEED``: the mount's and its cache file's
  here, the file's there), and the re-read (from the page cache).
* **reading a 1 GiB GHOST file** (never opened before): its baseline is not native disk but
  the Graph client's own download of it (``GraphClient.download``, verified and fsynced), the
  fastest the bytes can arrive.
* **writing 1 GiB** (1 MiB writes, then ``close``), **creating 10,000 files** of 1 KiB, and
  **copying a site-packages tree** (this virtualenv's, several thousand files) with ``cp -r``,
  in that order, each until its last ``close`` returns. Uploads start behind them, as they do
  for a user (onemount after its idle delay, rclone after its write-back delay), and are not
  waited for: at thousands of files they take many minutes against the fake, which measures
  the uploaders, not the file systems.
* **mount to first ls**: the time from running ``onemount mount --offline --daemon`` on a store
  of 1,000,000 items until ``ls`` of the mountpoint has answered, and the daemon's resident
  memory then; rclone's figure is its mount of the same drive (it has no offline mode) until
  the same ``ls`` answers.

Both mounts meet the same fake Graph the same way: the fake runs in its own process
(``onemount fakegraph serve`` over TLS with the interop test's CA), and a CONNECT proxy in
another process tunnels ``graph.microsoft.com`` to it; onemount is given
``--graph-url https://graph.microsoft.com/v1.0`` and rclone its OneDrive remote, so both talk
TLS to "Graph" through the same tunnel (tests/interop's proxy and CA, reused). The Graph
client's baseline download goes through the same tunnel.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from bench.harness import Figure
from onemount.fakegraph import FakeDrive, Tls
from onemount.fs import control
from onemount.graph import GraphClient, GraphConfig, StaticToken

SIZE = 1 << 30
TREE = 100_000
SMALL = 10_000
MILLION = 1_000_000
MB = 1e6
GRAPH = "https://graph.microsoft.com/v1.0"
_CHUNK = 1 << 20
_BLOCK = 16 << 20
REPO = Path(__file__).resolve().parents[1]
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])


# -- the world both mounts meet ---------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """The fake in its own process, the proxy in another, the CA, the token, the drive."""

    origin: str  # https://127.0.0.1:port, the fake's own address (for the admin routes)
    token: str
    proxy_url: str
    ca: Path
    drive_id: str
    mode: str

    def graph_client(self) -> GraphClient:
        """The Graph client as the mount builds it, through the same tunnel."""
        trust = ssl.create_default_context(cafile=self.ca)
        transport = httpx.AsyncHTTPTransport(verify=trust, proxy=self.proxy_url)
        return GraphClient(
            StaticToken(self.token), GraphConfig(base_url=GRAPH), transport=transport
        )


class _TempFolders:
    """What the interop CA fixture asks of pytest's TempPathFactory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path


def _interop_ca(folder: Path) -> tuple[Path, Tls]:
    from tests.interop.conftest import interop_ca

    made = interop_ca.__wrapped__(_TempFolders(folder))  # type: ignore[attr-defined]
    return made.ca, made.server


@contextmanager
def _served(drive_dir: Path, tls: Tls) -> Iterator[dict[str, str]]:
    command = [sys.executable, "-m", "onemount", "fakegraph", "serve", "--json"]
    command += ["--data", str(drive_dir), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


_PROXY = """
import sys
from tests.interop.conftest import HOSTS
from tests.interop.proxy import ConnectProxy
port = int(sys.argv[1])
with ConnectProxy({f"{h}:443": ("127.0.0.1", port) for h in HOSTS}).serving() as url:
    print(url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def _proxy(port: int) -> Iterator[str]:
    """The interop tests' CONNECT proxy, in a process of its own (it copies every byte)."""
    proxy = subprocess.Popen(
        [sys.executable, "-c", _PROXY, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proxy.stdout is not None and proxy.stdin is not None
        yield proxy.stdout.readline().strip()
    finally:
        assert proxy.stdin is not None
        proxy.stdin.close()
        proxy.wait(timeout=30)


@contextmanager
def world(folder: Path, drive_dir: Path) -> Iterator[World]:
    ca, tls = _interop_ca(folder)
    with _served(drive_dir, tls) as endpoint:
        origin = endpoint["base_url"].removesuffix("/v1.0")
        port = int(origin.rsplit(":", 1)[1])
        with _proxy(port) as proxy_url:
            yield World(
                origin, endpoint["token"], proxy_url, ca, endpoint["drive_id"], endpoint["mode"]
            )


# -- the three sides ---------------------------------------------------------------------------


class Side:
    """Where the work is done; ``root`` is the folder (or mountpoint) it is done in."""

    name = "native"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def mounted(self, *extra: str) -> Iterator[None]:
        yield

    def cache_files(self, path: Path) -> list[Path]:
        """The files holding ``path``'s bytes besides ``path`` (their pages dropped too)."""
        return []

    def pid(self) -> int | None:
        return None


def _env(folder: Path, world_: World, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder / "home"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_CACHE_HOME": str(folder / "xdg-cache"),
        "HTTPS_PROXY": world_.proxy_url,
        "NO_PROXY": "",
        "SSL_CERT_FILE": str(world_.ca),
        "PYTHONPATH": str(REPO),
        **extra,
    }


class Onemount(Side):
    name = "onemount"

    def __init__(self, folder: Path, world_: World) -> None:
        super().__init__(folder / "od")
        self.folder = folder
        self.cache = folder / "cache"
        self.token = folder / "token"
        self.token.write_text(world_.token)
        self.token.chmod(0o600)
        self.env = _env(folder, world_)

    def start(self, *extra: str) -> None:
        command = [sys.executable, "-m", "onemount", "mount", str(self.root), "--daemon"]
        command += ["--graph-url", GRAPH, "--token-file", str(self.token)]
        command += ["--cache-dir", str(self.cache), *extra]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"onemount mount failed: {done.stderr}")

    def stop(self) -> None:
        command = [sys.executable, "-m", "onemount", "unmount", str(self.root)]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"onemount unmount failed: {done.stderr}")

    @contextmanager
    def mounted(self, *extra: str) -> Iterator[None]:
        self.start(*extra)
        try:
            yield
        finally:
            self.stop()

    def cache_files(self, path: Path) -> list[Path]:
        return [self.cache / "content" / str(path.stat().st_ino)]

    def pid(self) -> int | None:
        return int(control.ask(self.root, "status", timeout=30)["pid"])


class Rclone(Side):
    name = "rclone"

    def __init__(self, folder: Path, world_: World, binary: str) -> None:
        super().__init__(folder / "mnt")
        self.binary = binary
        self.cache = folder / "cache"
        self.config = folder / "rclone.conf"
        self.config.write_text(_rclone_config(world_))
        self.config.chmod(0o600)
        self.ca = world_.ca
        self.env = _env(folder, world_, RCLONE_CONFIG=str(self.config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--ca-cert", str(self.ca), "mount", "fake:", str(self.root)]
        command += ["--vfs-cache-mode", "full", "--cache-dir", str(self.cache)]
        log = (self.cache.parent / "rclone.log").open("ab")
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while not os.path.ismount(self.root):  # rclone says nothing when it is ready
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rclone mount did not come up; see {log.name}")
            time.sleep(0.01)

    def stop(self) -> None:
        subprocess.run(["fusermount3", "-u", str(self.root)], check=True)
        assert self.process is not None
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # still uploading: what is left stays in its cache
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    @contextmanager
    def mounted(self, *extra: str) -> Iterator[None]:
        self.start()
        try:
            yield
        finally:
            self.stop()

    def cache_files(self, path: Path) -> list[Path]:
        return [self.cache / "vfs" / "fake" / path.relative_to(self.root)]

    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid


def _rclone_config(world_: World) -> str:
    """rclone's remote for the fake: the interop test's own configuration and sign-in."""
    from tests.interop.test_rclone import _config, _sign_in

    tokens = _sign_in(world_.origin, world_.ca)
    fake = types.SimpleNamespace(
        drive=types.SimpleNamespace(
            drive_id=world_.drive_id, options=types.SimpleNamespace(mode=world_.mode)
        )
    )
    return str(_config(fake, tokens))  # type: ignore[arg-type]


def _rclone_binary() -> str | None:
    try:
        from tests.interop.test_rclone import RCLONE
    except BaseException:  # the module skips itself (pytest.skip) when rclone is missing
        return None
    return RCLONE


# -- the work ----------------------------------------------------------------------------------


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _ls_lr(root: Path) -> None:
    subprocess.run(["ls", "-lR", str(root)], stdout=subprocess.DEVNULL, check=True)


def _stat_all(root: Path, paths: list[str]) -> None:
    for path in paths:
        os.stat(root / path)


def _drop_pages(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _read(path: Path) -> None:
    buffer = bytearray(_CHUNK)
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while got := os.readv(fd, [buffer]):
            total += got
    finally:
        os.close(fd)
    if total != SIZE:
        raise RuntimeError(f"read {total} bytes of {path}, not {SIZE}")


def _write(path: Path, block: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(block)
        for _ in range(SIZE // len(block)):
            for offset in range(0, len(block), _CHUNK):
                os.write(fd, view[offset : offset + _CHUNK])
    finally:
        os.close(fd)


def _small_files(folder: Path) -> None:
    folder.mkdir()
    data = b"x" * 1024
    for index in range(SMALL):
        fd = os.open(folder / f"small-{index:05d}.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(fd, data)
        os.close(fd)


def _copy_tree(source: Path, target: Path) -> None:
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)


def _tree_size(root: Path) -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                files += 1
                size += path.stat().st_size
    return files, size


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# -- the runs ----------------------------------------------------------------------------------


@dataclass
class Results:
    """Seconds per measure and side, and the machine's load average when each was taken.

    The load is part of the figure: on a shared 2-core machine every FUSE request is two
    context switches, so a mount's figures move with the number of runnable processes far
    more than native disk's do.
    """

    seconds: dict[tuple[str, str], float]
    load: dict[tuple[str, str], float] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)

    def time(self, measure: str, side: str, work: Callable[[], object]) -> None:
        """Run ``work`` once, keeping its wall-clock seconds and the 1-minute load after.

        A peer that fails a measure (rclone's mount once answered a ``cp -r`` with EIO) has
        that row recorded as failed, and the run goes on: a whole run must not be lost to
        another program's error. onemount's own failures, and native disk's, end the run.
        """
        try:
            self.seconds[(measure, side)] = _timed(work)
        except (subprocess.CalledProcessError, OSError) as exc:
            if side in ("native", "onemount"):
                raise
            self.failed[(measure, side)] = str(exc)
            print(f"# fs {measure}: {side} failed: {exc}", flush=True)
            self.seconds[(measure, side)] = math.nan
        self.load[(measure, side)] = os.getloadavg()[0]

    def figure(
        self,
        measure: str,
        side: str,
        *,
        unit: str,
        work: float,
        baseline: str = "native",
        baseline_name: str = "native disk",
        note: str = "",
    ) -> Figure:
        """A rate figure: ``work`` units done in each side's seconds."""
        load, baseline_load = self.load[(measure, side)], self.load[(measure, baseline)]
        loads = f"load {load:.1f}, {baseline} {baseline_load:.1f}"
        if (measure, side) in self.failed:
            note = f"FAILED: {self.failed[(measure, side)]}"
        return Figure(
            name=f"fs {measure}: {side}",
            unit=unit,
            value=work / self.seconds[(measure, side)],
            baseline_name=baseline_name,
            baseline_value=work / self.seconds[(measure, baseline)],
            higher_is_better=True,
            note=f"{note}; {loads}" if note else loads,
        )


def _drive_paths(drive: FakeDrive) -> tuple[list[str], list[str]]:
    """The populated tree's folders and files, as paths below the root."""
    folders, files = [], []
    for folder in drive.children(drive.root_id, None, TREE):
        if not folder.is_folder or not folder.name.startswith("bulk-"):
            continue
        folders.append(folder.name)
        files += [f"{folder.name}/{f.name}" for f in drive.children(folder.id, None, TREE)]
    return folders, files


def _run_side(side: Side, files: list[str], results: Results) -> None:
    """Every figure's work on one side, in the order that leaves each measure clean."""
    name = side.name
    ghost = side.root / "big" / "ghost.bin"
    with side.mounted():
        results.time("ls -lR 100k items, cold", name, lambda: _ls_lr(side.root))
        results.time("ls -lR 100k items, warm", name, lambda: _ls_lr(side.root))
        results.time("stat 100k files, warm", name, lambda: _stat_all(side.root, files))
    with side.mounted():
        results.time("stat 100k files, cold", name, lambda: _stat_all(side.root, files))
        results.time("read 1 GiB GHOST", name, lambda: _read(ghost))
    with side.mounted():
        for path in (ghost, *side.cache_files(ghost)):
            _drop_pages(path)
        results.time("first read 1 GiB", name, lambda: _read(ghost))
        results.time("re-read 1 GiB", name, lambda: _read(ghost))
        # One drive for every side: each writes under names of its own.
        block = os.urandom(_BLOCK)
        written = side.root / side.name / "written.bin"
        written.parent.mkdir()
        results.time("write 1 GiB", name, lambda: _write(written, block))
        created = side.root / side.name / "small"
        results.time("create 10,000 files", name, lambda: _small_files(created))
        copied = side.root / side.name / "site-packages"
        results.time("cp -r site-packages", name, lambda: _copy_tree(SITE_PACKAGES, copied))


def _native_tree(root: Path, folders: list[str], files: list[str], ghost: Path) -> None:
    for folder in folders:
        (root / folder).mkdir(parents=True)
    for path in files:
        (root / path).touch()
    (root / "big").mkdir()
    shutil.copyfile(ghost, root / "big" / "ghost.bin")


def _download(world_: World, item_id: str, qxh: str, target: Path) -> Callable[[], None]:
    async def run() -> None:
        async with world_.graph_client() as graph:
            await graph.download(item_id, target, expected_hash=qxh)

    return lambda: trio.run(run)


_RATES = (
    ("ls -lR 100k items, cold", "items/s"),
    ("ls -lR 100k items, warm", "items/s"),
    ("stat 100k files, cold", "stats/s"),
    ("stat 100k files, warm", "stats/s"),
    ("first read 1 GiB", "MB/s"),
    ("re-read 1 GiB", "MB/s"),
    ("write 1 GiB", "MB/s"),
    ("create 10,000 files", "files/s"),
    ("cp -r site-packages", "MB/s"),
)


def _main_figures(folder: Path) -> list[Figure]:
    drive_dir = folder / "drive"
    drive = FakeDrive(drive_dir)
    drive.populate(TREE - 1)  # and the root: 100,000 items
    source = folder / "ghost.bin"
    block = os.urandom(_BLOCK)
    with source.open("wb") as out:
        for _ in range(SIZE // _BLOCK):
            out.write(block)
    folders, files = _drive_paths(drive)
    native = Side(folder / "native")
    _native_tree(native.root, folders, files, source)
    # put_file takes the source file into the fake's blob store.
    ghost = drive.put_file(drive.create_folder(drive.root_id, "big").id, "ghost.bin", source)
    drive.close()
    results = Results({})
    rclone = _rclone_binary()
    with world(folder, drive_dir) as world_:
        download = _download(world_, ghost.id, str(ghost.qxh), folder / "downloaded.bin")
        results.time("read 1 GiB GHOST", "client", download)
        onemount = Onemount(folder / "onemount", world_)
        with onemount.mounted():  # its first run: the drive enumerated once, not timed
            control.ask(onemount.root, "sync", timeout=3600)
        sides: list[Side] = [native, onemount]
        if rclone is not None:
            sides.append(Rclone(folder / "rclone", world_, rclone))
        for side in sides:
            _run_side(side, files, results)
    sp_files, sp_bytes = _tree_size(SITE_PACKAGES)
    works = {"items/s": TREE, "stats/s": len(files), "MB/s": SIZE / MB, "files/s": SMALL}
    figures = []
    for name in [s.name for s in sides[1:]]:
        for measure, unit in _RATES:
            copy = measure.startswith("cp")
            work = sp_bytes / MB if copy else works[unit]
            note = f"{sp_files} files, {sp_bytes / MB:.0f} MB" if copy else ""
            figures.append(results.figure(measure, name, unit=unit, work=work, note=note))
        figures.append(
            results.figure(
                "read 1 GiB GHOST",
                name,
                unit="MB/s",
                work=SIZE / MB,
                baseline="client",
                baseline_name="Graph client's download",
                note="through the same tunnel",
            )
        )
    return figures


def _first_ls(side: Side, start: Callable[[], None]) -> tuple[float, float, float]:
    """Seconds from ``start`` until a listing of the mountpoint is answered, the daemon's
    resident memory then (MB) and the 1-minute load average."""
    began = time.perf_counter()
    start()
    os.listdir(side.root)
    elapsed = time.perf_counter() - began
    pid = side.pid()
    assert pid is not None
    return elapsed, _rss_mb(pid), os.getloadavg()[0]


def _startup_figures(folder: Path) -> list[Figure]:
    """Mount to first ls with 1,000,000 items, and the daemon's resident memory then."""
    drive_dir = folder / "drive"
    drive = FakeDrive(drive_dir)
    drive.populate(MILLION - 1)
    drive.close()
    rclone = _rclone_binary()
    measured: dict[str, tuple[float, float, float]] = {}
    with world(folder, drive_dir) as world_:
        onemount = Onemount(folder / "onemount", world_)
        with onemount.mounted():  # the first run fills the store: enumerated once, not timed
            control.ask(onemount.root, "sync", timeout=3600)
        measured["onemount"] = _first_ls(onemount, lambda: onemount.start("--offline"))
        onemount.stop()
        if rclone is not None:
            other = Rclone(folder / "rclone", world_, rclone)
            measured["rclone"] = _first_ls(other, other.start)
            other.stop()
    figures = []
    for side, (seconds, rss, load) in measured.items():
        how = "offline, from the store" if side == "onemount" else "online (it has no offline mode)"
        figures.append(
            Figure(
                name=f"fs mount to first ls, 1M items: {side}",
                unit="s",
                value=seconds,
                baseline_name="the aim",
                baseline_value=1.0,
                higher_is_better=False,
                note=f"{how}; load {load:.1f}",
            )
        )
        figures.append(
            Figure(
                name=f"fs daemon RSS after first ls, 1M items: {side}",
                unit="MB",
                value=rss,
                baseline_name="the aim",
                baseline_value=100.0,
                higher_is_better=False,
            )
        )
    return figures


def collect() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-fs-", dir="/var/tmp") as tmp:
        folder = Path(tmp)
        (folder / "main").mkdir()
        (folder / "startup").mkdir()
        return [*_main_figures(folder / "main"), *_startup_figures(folder / "startup")]
