"""``make diagrams-check``: exit 1 when the generated diagrams in a folder are stale.

``--write`` regenerates them instead (``make diagrams``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from onemount.statemachine.artifacts import stale, write


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--write":
        for path in write(Path(argv[1]) if len(argv) > 1 else Path("docs/diagrams")):
            print(f"wrote {path}")
        return 0
    directory = Path(argv[0]) if argv else Path("docs/diagrams")
    reasons = stale(directory)
    for reason in reasons:
        print(reason, file=sys.stderr)
    if reasons:
        print("run 'make diagrams' and commit the result", file=sys.stderr)
        return 1
    print(f"{directory}: diagrams match spec/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
