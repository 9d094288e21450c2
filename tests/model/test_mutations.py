"""The checks can fail: mutated copies of the spec must be caught, by name, with a shortest path.

Each mutation is a textual edit of a copy of ``spec/`` that reintroduces a defect of the
reference implementation (onemount-reference.md §2, §9), one of issue 8's reproduced cases, or
a structural mistake. The test asserts that the checker names the violated property and the
counterexample the breadth-first exploration finds: exactly, where the shortest path is unique
(or the tie is only between a file and a folder, which the explorer always tries file first);
otherwise its length and last steps, since which of several equally short paths comes first
depends only on the order in which the explorer tries events.

The exploration is bounded at :data:`DEPTH`: breadth-first order over the first levels does not
depend on the bound, so the path found is the one the full ``onemount spec check`` prints, and
each test takes about a second instead of the full check's ten.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from onemount.statemachine.check import check_machine
from onemount.statemachine.spec import DEFAULT_SPEC_DIR, load_spec

pytestmark = pytest.mark.model

#: Deep enough for every counterexample below (the longest has six steps).
DEPTH = 7

NO_LOSS = "unsent local bytes are never discarded"
COLLISION = "a collision never takes another item for ours"
RENAME = "a local rename is never dropped"
WRITER = "a file open for writing keeps its bytes"


@dataclass(frozen=True)
class Mutation:
    """Edits of ``<machine>.yaml`` (each ``old`` text must occur exactly once) and, for a guard
    the edit leaves unused, its removal from the sidecar: otherwise the structural check reports
    "unused guard" and the exploration never runs (a test below shows it).
    """

    edits: Mapping[str, str]
    unused_guards: tuple[str, ...] = field(default=())
    machine: str = "item"

    def apply(self, tmp_path: Path) -> Path:
        spec_dir = tmp_path / "spec"
        shutil.copytree(DEFAULT_SPEC_DIR, spec_dir)
        path = spec_dir / f"{self.machine}.yaml"
        text = path.read_text()
        for old, new in self.edits.items():
            assert text.count(old) == 1, f"mutation anchor not found exactly once: {old}"
            text = text.replace(old, new)
        path.write_text(text)
        if self.unused_guards:
            _drop_guards(spec_dir / f"{self.machine}.meta.yaml", self.unused_guards)
        return spec_dir


def _drop_guards(meta_path: Path, guards: tuple[str, ...]) -> None:
    """Remove ``guards`` from the sidecar: their meaning and every constraint that names them."""
    meta = yaml.safe_load(meta_path.read_text())
    for guard in guards:
        del meta["guards"][guard]
        named = re.compile(rf"\b{guard}\b")
        meta["constraints"] = [c for c in meta["constraints"] if not named.search(c)]
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False, width=100))


def counterexamples(spec_dir: Path) -> dict[str, tuple[str, ...]]:
    """Property name to shortest path, for every property the mutated spec violates."""
    result = check_machine(load_spec("item", spec_dir), explore_depth=DEPTH)
    assert result.exploration is not None, [str(p) for p in result.problems]
    return {prop: c.path for prop, c in result.exploration.counterexamples.items()}


def run_check(spec_dir: Path, depth: int = DEPTH) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "onemount", "spec", "check"),
            *("--spec-dir", str(spec_dir), "--depth", str(depth)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


# ---- the reference implementation's defects -------------------------------------------------

EVICT_DIRTY = Mutation(
    {
        "      - {event: upload_failed, target: ERROR,": (
            "      - {event: evict, target: GHOST, on: [drop_cached_content]}\n"
            "      - {event: upload_failed, target: ERROR,"
        )
    }
)


def test_evicting_a_dirty_file_is_caught_with_the_shortest_path(tmp_path: Path) -> None:
    paths = counterexamples(EVICT_DIRTY.apply(tmp_path))
    assert paths[NO_LOSS] == (
        "ABSENT",
        "--local_created {'is_directory': False}--> DIRTY_LOCAL",
        "--evict--> GHOST",
    )


def test_remote_delete_dropping_local_edits_is_caught(tmp_path: Path) -> None:
    mutation = Mutation(
        {
            "{event: remote_deleted, target: CONFLICT, unless: is_directory,": (
                "{event: remote_deleted, target: REMOVED, unless: is_directory,"
            )
        }
    )
    paths = counterexamples(mutation.apply(tmp_path))
    path = paths[NO_LOSS]
    # Shortest: appear remotely, deleted on the server, overwritten here before delta says so,
    # then delta's delete. Which of the two middle steps comes first is a tie.
    assert len(path) == 5
    assert "(remote_delete)" in path
    assert path[-2] == "--local_overwritten {'is_directory': False}--> DIRTY_LOCAL"
    assert path[-1] == "--remote_deleted {'is_directory': False}--> REMOVED"
    assert paths["a remote change against local edits is a conflict"] == path


def test_failed_upload_retried_as_a_download_is_caught(tmp_path: Path) -> None:
    mutation = Mutation(
        {
            "{event: hydrate_requested, target: HYDRATING, cond: not has_local_changes and not "
            "is_directory,": "{event: hydrate_requested, target: HYDRATING, cond: not is_directory,"
        }
    )
    assert counterexamples(mutation.apply(tmp_path))[NO_LOSS] == (
        "ABSENT",
        "--local_created {'is_directory': False}--> DIRTY_LOCAL",
        "(upload_start)",
        "--upload_failed--> ERROR",
        "--hydrate_requested {'is_directory': False}--> HYDRATING",
    )


def test_metadata_only_change_discarding_bytes_is_caught(tmp_path: Path) -> None:
    mutation = Mutation(
        {
            "target: HYDRATED, cond: not is_virtual and not content_changed, on": (
                "target: GHOST, cond: not is_virtual and not content_changed, on"
            )
        }
    )
    paths = counterexamples(mutation.apply(tmp_path))
    assert paths["a metadata-only remote change keeps HYDRATED"] == (
        "ABSENT",
        "--remote_appeared {'is_directory': False}--> GHOST",
        "--hydrate_requested {'is_directory': False}--> HYDRATING",
        "--hydrate_succeeded {'hydration_current': True}--> HYDRATED",
        "--remote_changed {'content_changed': False, 'is_virtual': False}--> GHOST",
    )


def test_virtual_entry_leaving_hydrated_is_caught(tmp_path: Path) -> None:
    mutation = Mutation(
        {
            "{event: local_deleted, target: DELETED_LOCAL, unless: is_virtual,": (
                "{event: local_deleted, target: DELETED_LOCAL,"
            )
        }
    )
    path = counterexamples(mutation.apply(tmp_path))["virtual stays HYDRATED"]
    assert path == ("ABSENT", "--virtual_created--> HYDRATED", "--local_deleted--> DELETED_LOCAL")


def test_ghost_marked_hydrated_without_download_is_caught(tmp_path: Path) -> None:
    # Reference bug L5: an unchanged eTag taken as proof of hydration.
    mutation = Mutation(
        {
            "      - {event: remote_changed, target: GHOST, on: [refresh_remote_metadata]}": (
                "      - {event: remote_changed, target: HYDRATED, on: [refresh_remote_metadata]}"
            )
        }
    )
    assert counterexamples(mutation.apply(tmp_path))["HYDRATED only with the current bytes"] == (
        "ABSENT",
        "--remote_appeared {'is_directory': False}--> GHOST",
        "--remote_changed--> HYDRATED",
    )


# ---- issue 8: names, echoes, stale downloads, writers ----------------------------------------

_COLLIDED_LOCAL_ONLY = (
    "      - {event: name_collided, target: DIRTY_LOCAL, cond: not matches_arrival and not "
    "exists_remotely, on: [move_aside]}"
)
COLLISION_PURGES = Mutation(
    {
        _COLLIDED_LOCAL_ONLY: (
            "      - {event: name_collided, target: REMOVED, cond: not matches_arrival and not "
            "exists_remotely, on: [cancel_all_intents, discard_local_changes, purge]}"
        )
    }
)
COLLISION_ADOPTS_ANY = Mutation(
    {
        _COLLIDED_LOCAL_ONLY: (
            "      - {event: name_collided, target: DIRTY_LOCAL, cond: not matches_arrival and not "
            "exists_remotely, on: [adopt_remote_identity]}"
        )
    }
)
_ARRIVED_OVER_NEW_FILE = (
    "ABSENT",
    "--local_created {'is_directory': False}--> DIRTY_LOCAL",
    "(foreign_arrival)",
)


def test_a_collision_that_overwrites_the_local_item_is_caught(tmp_path: Path) -> None:
    """Another item arrives under the name of our unsent file; the mutation lets it win."""
    assert counterexamples(COLLISION_PURGES.apply(tmp_path))[NO_LOSS] == (
        *_ARRIVED_OVER_NEW_FILE,
        "--name_collided {'exists_remotely': False, 'matches_arrival': False}--> REMOVED",
    )


def test_a_collision_that_adopts_any_arrival_is_caught(tmp_path: Path) -> None:
    """The arrival is taken for our own create's echo whatever its content."""
    assert counterexamples(COLLISION_ADOPTS_ANY.apply(tmp_path))[COLLISION] == (
        *_ARRIVED_OVER_NEW_FILE,
        "--name_collided {'exists_remotely': False, 'matches_arrival': False}--> DIRTY_LOCAL",
    )


ECHO_CONFLICT = Mutation(
    {
        "      - {event: remote_changed, target: DIRTY_LOCAL, cond: not content_changed or "
        "is_upload_echo, on: [refresh_remote_metadata]}\n"
        "      - {event: remote_changed, target: CONFLICT, cond: content_changed and not "
        "is_upload_echo,": (
            "      - {event: remote_changed, target: DIRTY_LOCAL, unless: content_changed, on: "
            "[refresh_remote_metadata]}\n"
            "      - {event: remote_changed, target: CONFLICT, cond: content_changed,"
        )
    },
    unused_guards=("is_upload_echo",),
)


def test_an_echo_treated_as_a_conflict_is_caught(tmp_path: Path) -> None:
    """Delta reports our upload before its reply is processed (issue 8, case 5)."""
    path = counterexamples(ECHO_CONFLICT.apply(tmp_path))[
        "the echo of our own upload is not a conflict"
    ]
    assert path == (
        "ABSENT",
        "--remote_appeared {'is_directory': False}--> GHOST",
        "--local_overwritten {'is_directory': False}--> DIRTY_LOCAL",
        "(upload_start)",
        "(server_accepts_upload)",
        "--remote_changed {'content_changed': True}--> CONFLICT",
    )


STALE_ACCEPTED = Mutation(
    {
        "      - {event: hydrate_succeeded, target: HYDRATED, cond: hydration_current, on: "
        "[finish_hydration]}\n"
        "      - {event: hydrate_succeeded, target: HYDRATING, unless: hydration_current, on: "
        "[restart_hydration]}\n": (
            "      - {event: hydrate_succeeded, target: HYDRATED, on: [finish_hydration]}\n"
        )
    },
    unused_guards=("hydration_current",),
)


def test_a_stale_hydration_accepted_is_caught(tmp_path: Path) -> None:
    """A download started before a remote content change finishes late (issue 8, case 6)."""
    paths = counterexamples(STALE_ACCEPTED.apply(tmp_path))
    path = paths["a stale download is never accepted"]
    # The remote edit happens before or after the download starts: a tie.
    assert len(path) == 6
    assert "(remote_edit)" in path
    assert path[-2:] == (
        "--remote_changed {'content_changed': True}--> HYDRATING",
        "--hydrate_succeeded--> HYDRATED",
    )
    assert paths["HYDRATED only with the current bytes"] == path


RENAME_DROPPED = Mutation(
    {
        "      - {event: local_renamed, target: DIRTY_LOCAL, unless: exists_remotely, on: "
        "[take_local_placement]}": (
            "      - {event: local_renamed, target: DIRTY_LOCAL, unless: exists_remotely}"
        )
    }
)


def test_a_dropped_rename_is_caught(tmp_path: Path) -> None:
    """A rename of a file the server does not have yet changes nothing (issue 8, case 1)."""
    assert counterexamples(RENAME_DROPPED.apply(tmp_path))[RENAME] == (
        "ABSENT",
        "--local_created {'is_directory': False}--> DIRTY_LOCAL",
        "--local_renamed {'exists_remotely': False}--> DIRTY_LOCAL",
    )


def test_a_remote_change_ghosting_a_file_open_for_writing_is_caught(tmp_path: Path) -> None:
    """The writer's next write() would have no cache file to go to (issue 8, case 10)."""
    mutation = Mutation(
        {
            "target: GHOST, cond: not is_virtual and content_changed and not has_writers and "
            "not pinned": "target: GHOST, cond: not is_virtual and content_changed and not pinned",
            "      - {event: remote_changed, target: HYDRATED, cond: not is_virtual and "
            "content_changed and has_writers, on: [keep_remote_version]}\n": "",
            "target: HYDRATING, cond: not is_virtual and content_changed and not has_writers and "
            "pinned": "target: HYDRATING, cond: not is_virtual and content_changed and pinned",
        }
    )
    paths = counterexamples(mutation.apply(tmp_path))
    path = paths[WRITER]
    # Four ties: the remote edit can happen anywhere before the delta that reports it.
    assert len(path) == 7
    assert {"(remote_edit)", "(open_for_write)"} <= set(path)
    assert path[-1] == (
        "--remote_changed {'content_changed': True, 'is_virtual': False, 'pinned': False}--> GHOST"
    )
    assert paths["a remote content change on a clean file re-fetches or ghosts it"] == path


def test_a_failed_upload_dropping_the_pending_move_is_caught(tmp_path: Path) -> None:
    """``upload_failed`` cancelling every intent loses the rename (issue 8, case 3)."""
    mutation = Mutation(
        {
            "      - {event: upload_failed, target: ERROR, on: [cancel_upload, record_error]}": (
                "      - {event: upload_failed, target: ERROR, on: [cancel_all_intents, "
                "record_error]}"
            )
        }
    )
    path = counterexamples(mutation.apply(tmp_path))[RENAME]
    # Three ties: the rename comes before or after the upload starts, or before the overwrite.
    assert len(path) == 6
    assert "--local_renamed {'exists_remotely': True}--> DIRTY_LOCAL" in path
    assert path[-1] == "--upload_failed--> ERROR"


def test_an_overwrite_discarding_dirty_bytes_is_caught(tmp_path: Path) -> None:
    """O_TRUNC over a dirty file that is not open for writing drops old and new bytes alike."""
    mutation = Mutation(
        {
            "      - {event: local_overwritten, target: DIRTY_LOCAL, unless: is_directory, on: "
            "[record_local_change, queue_upload]}\n"
            "      - {event: local_renamed, target: DIRTY_LOCAL, cond: exists_remotely,": (
                "      - {event: local_overwritten, target: GHOST, cond: exists_remotely and not "
                "is_directory and not has_writers, on: [discard_local_changes, cancel_upload]}\n"
                "      - {event: local_overwritten, target: DIRTY_LOCAL, cond: not is_directory "
                "and (not exists_remotely or has_writers), on: [record_local_change, "
                "queue_upload]}\n"
                "      - {event: local_renamed, target: DIRTY_LOCAL, cond: exists_remotely,"
            )
        }
    )
    assert counterexamples(mutation.apply(tmp_path))[NO_LOSS] == (
        "ABSENT",
        "--remote_appeared {'is_directory': False}--> GHOST",
        "--local_overwritten {'is_directory': False}--> DIRTY_LOCAL",
        "--local_overwritten {'exists_remotely': True, 'has_writers': False, 'is_directory':"
        " False}--> GHOST",
    )


# ---- through the command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (
            COLLISION_ADOPTS_ANY,
            f"  safety: {COLLISION}: an item that arrived under our name with other content"
            " became this item\n"
            "    path: ABSENT --local_created {'is_directory': False}--> DIRTY_LOCAL"
            " (foreign_arrival) --name_collided {'exists_remotely': False, 'matches_arrival':"
            " False}--> DIRTY_LOCAL\n",
        ),
        (
            RENAME_DROPPED,
            f"  safety: {RENAME}: after local_renamed the row no longer holds the name and parent"
            " the user gave\n"
            "    path: ABSENT --local_created {'is_directory': False}--> DIRTY_LOCAL"
            " --local_renamed {'exists_remotely': False}--> DIRTY_LOCAL\n",
        ),
    ],
    ids=["collision-adopts-any", "rename-dropped"],
)
def test_spec_check_exits_1_with_the_property_and_path(
    tmp_path: Path, mutation: Mutation, expected: str
) -> None:
    result = run_check(mutation.apply(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "item: FAILED" in result.stdout
    assert expected in result.stdout, result.stdout


# ---- structural mistakes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        (
            {"      - {event: hydrate_cancelled, target: GHOST, on: [abandon_hydration]}\n": ""},
            "unused event: hydrate_cancelled is declared but no state accepts it",
        ),
        (
            {"and not pinned and not has_open_handles": "and not pinned and not is_locked"},
            "undeclared guard: is_locked is used but not declared in the sidecar",
        ),
        (
            {
                "{event: remote_deleted, target: REMOVED, on: [abandon_hydration, purge]}": (
                    "{event: remote_deleted, target: REMOVED, on: [abandon_hydration, shred]}"
                )
            },
            "undeclared effect: shred",
        ),
        (
            {
                "{event: remote_changed, target: HYDRATING, unless: content_changed,": (
                    "{event: remote_changed, target: HYDRATING,"
                )
            },
            "ambiguous: remote_changed in HYDRATING",
        ),
    ],
    ids=["event-no-state-accepts", "undeclared-guard", "undeclared-effect", "ambiguous"],
)
def test_structural_mistakes_are_reported(
    tmp_path: Path, edits: dict[str, str], expected: str
) -> None:
    result = run_check(Mutation(edits).apply(tmp_path))
    assert result.returncode == 1
    assert "item: FAILED" in result.stdout
    assert expected in result.stdout, result.stdout


def test_a_guard_left_unused_stops_the_exploration(tmp_path: Path) -> None:
    """Why :class:`Mutation` removes a guard from the sidecar: without that, the echo mutation
    is reported as a vocabulary problem and never explored."""
    result = run_check(Mutation(ECHO_CONFLICT.edits).apply(tmp_path))
    assert result.returncode == 1
    assert "unused guard: is_upload_echo is declared but no transition uses it" in result.stdout
    assert "exploration skipped until the problems above are fixed" in result.stdout
    assert "path:" not in result.stdout


def test_unreachable_state_and_dead_end_are_reported(tmp_path: Path) -> None:
    spec_dir = Mutation(
        {
            "  REMOVED:\n    final: true\n": (
                "  REMOVED:\n    final: true\n  LIMBO:\n    transitions: []\n"
            )
        }
    ).apply(tmp_path)
    meta = spec_dir / "item.meta.yaml"
    meta.write_text(meta.read_text() + "  LIMBO:\n    meaning: A state nothing leads to.\n")
    result = run_check(spec_dir)
    assert result.returncode == 1
    assert "unreachable state: LIMBO cannot be reached from ABSENT" in result.stdout
    assert "no way out: non-final state LIMBO has no transition to another state" in result.stdout


def test_missing_implementation_is_reported(tmp_path: Path) -> None:
    spec_dir = tmp_path / "spec"
    shutil.copytree(DEFAULT_SPEC_DIR, spec_dir)
    meta = spec_dir / "upload.meta.yaml"
    meta.write_text(
        meta.read_text().replace(
            "bindings: onemount.store.upload_bindings", "bindings: onemount.nowhere_bindings"
        )
    )
    # The item machine is explored too; one level is enough, the finding is the upload's.
    result = run_check(spec_dir, depth=1)
    assert result.returncode == 1
    assert "upload: FAILED" in result.stdout
    assert "no implementation: bindings module onemount.nowhere_bindings" in result.stdout
