"""A file system of one empty root folder, mounted by ``python -m tests.fs.tiny_fs MOUNTPOINT``.

It prints ``ready`` once mounted and serves until killed: the tests SIGKILL it to leave the
dead mount a crashed daemon leaves (every call answers ENOTCONN), without needing the engine.
"""

from __future__ import annotations

import os
import stat
import sys

import pyfuse3
import trio


class Root(pyfuse3.Operations):
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = inode
        entry.st_mode = stat.S_IFDIR | 0o755
        return entry


async def main(mountpoint: str) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pyfuse3.main)
        await trio.to_thread.run_sync(os.stat, mountpoint)
        print("ready", flush=True)


if __name__ == "__main__":
    pyfuse3.init(Root(), sys.argv[1], {"fsname=tiny", "subtype=tiny"})
    try:
        trio.run(main, sys.argv[1])
    finally:
        pyfuse3.close(unmount=True)
