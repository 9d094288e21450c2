"""Where a mount keeps its bytes: the cache directory's layout (mode 0700).

::

    <cache dir>/metadata_v2.db      the store
    <cache dir>/content/<ino>       an item's cached bytes (complete and verified, or local)
    <cache dir>/partial/<ino>       a download in progress (never visible as complete)
    <cache dir>/snapshots/<intent>  the immutable copy an upload job sends

Files are named by inode, which never changes for an item (a rename, the exchange of a local id
for the server's, a restart), so nothing is ever renamed inside the cache but a finished
download (partial -> content) and a conflict copy taking its bytes.
"""

from __future__ import annotations

import os
from pathlib import Path


class CacheDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in (root, root / "content", root / "partial", root / "snapshots"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)

    @property
    def database(self) -> Path:
        return self.root / "metadata_v2.db"

    def content(self, ino: int) -> Path:
        return self.root / "content" / str(ino)

    def partial(self, ino: int) -> Path:
        return self.root / "partial" / str(ino)

    def snapshot(self, intent_id: int) -> Path:
        return self.root / "snapshots" / str(intent_id)
