"""The checks can fail: mutated copies of the spec must be caught, by name, with a shortest path.

Each mutation is a textual edit of a copy of ``spec/`` that reintroduces a defect of the
reference implementation (onemount-reference.md §2, §9) or a structural mistake. The test asserts
that the checker names the violated property and, for safety properties, the exact shortest
counterexample the breadth-first exploration must find.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onemount.statemachine.check import check_machine
from onemount.statemachine.spec import DEFAULT_SPEC_DIR, load_spec

pytestmark = pytest.mark.model


def mutate(tmp_path: Path, edits: dict[str, str], machine: str = "item") -> Path:
    spec_dir = tmp_path / "spec"
    shutil.copytree(DEFAULT_SPEC_DIR, spec_dir)
    path = spec_dir / f"{machine}.yaml"
    text = path.read_text()
    for old, new in edits.items():
        assert text.count(old) == 1, f"mutation anchor not found exactly once: {old}"
        text = text.replace(old, new)
    path.write_text(text)
    return spec_dir


def safety_paths(spec_dir: Path) -> dict[str, tuple[str, ...]]:
    result = check_machine(load_spec("item", spec_dir))
    assert result.exploration is not None
    return {prop: c.path for prop, c in result.exploration.counterexamples.items()}


NO_LOSS = "unsent local bytes are never discarded"


def test_evicting_a_dirty_file_is_caught_with_the_shortest_path(tmp_path: Path) -> None:
    spec_dir = mutate(
        tmp_path,
        {
            "      - {event: upload_failed, target: ERROR,": (
                "      - {event: evict, target: GHOST, on: [drop_cached_content]}\n"
                "      - {event: upload_failed, target: ERROR,"
            )
        },
    )
    paths = safety_paths(spec_dir)
    assert paths[NO_LOSS] == (
        "ABSENT",
        "--local_created {'is_directory': False}--> DIRTY_LOCAL",
        "--evict--> GHOST",
    )


def test_remote_delete_dropping_local_edits_is_caught(tmp_path: Path) -> None:
    spec_dir = mutate(
        tmp_path,
        {
            "{event: remote_deleted, target: CONFLICT, unless: is_directory,": (
                "{event: remote_deleted, target: REMOVED, unless: is_directory,"
            )
        },
    )
    paths = safety_paths(spec_dir)
    path = paths[NO_LOSS]
    # Shortest: appear remotely, get local edits without downloading, then the remote delete.
    assert len(path) == 4
    assert path[-1] == "--remote_deleted {'is_directory': False}--> REMOVED"
    assert "DIRTY_LOCAL" in path[-2]


def test_failed_upload_retried_as_a_download_is_caught(tmp_path: Path) -> None:
    spec_dir = mutate(
        tmp_path,
        {
            "{event: hydrate_requested, target: HYDRATING, cond: not has_local_changes and not "
            "is_directory,": "{event: hydrate_requested, target: HYDRATING, cond: not is_directory,"
        },
    )
    path = safety_paths(spec_dir)[NO_LOSS]
    assert path[-2].endswith("--> ERROR") and path[-1].startswith("--hydrate_requested")
    assert path[-1].endswith("--> HYDRATING")


def test_metadata_only_change_discarding_bytes_is_caught(tmp_path: Path) -> None:
    spec_dir = mutate(
        tmp_path,
        {
            "target: HYDRATED, cond: not is_virtual and not content_changed, on": (
                "target: GHOST, cond: not is_virtual and not content_changed, on"
            )
        },
    )
    paths = safety_paths(spec_dir)
    assert "a metadata-only remote change keeps HYDRATED" in paths


def test_virtual_entry_leaving_hydrated_is_caught(tmp_path: Path) -> None:
    spec_dir = mutate(
        tmp_path,
        {
            "{event: local_deleted, target: DELETED_LOCAL, unless: is_virtual,": (
                "{event: local_deleted, target: DELETED_LOCAL,"
            )
        },
    )
    path = safety_paths(spec_dir)["virtual stays HYDRATED"]
    assert path == ("ABSENT", "--virtual_created--> HYDRATED", "--local_deleted--> DELETED_LOCAL")


def test_ghost_marked_hydrated_without_download_is_caught(tmp_path: Path) -> None:
    # Reference bug L5: an unchanged eTag taken as proof of hydration.
    spec_dir = mutate(
        tmp_path,
        {
            "      - {event: remote_changed, target: GHOST, on: [refresh_remote_metadata]}": (
                "      - {event: remote_changed, target: HYDRATED, on: [refresh_remote_metadata]}"
            )
        },
    )
    paths = safety_paths(spec_dir)
    assert paths["HYDRATED only with verified bytes"] == (
        "ABSENT",
        "--remote_appeared {'is_directory': False}--> GHOST",
        "--remote_changed--> HYDRATED",
    )


def run_check(spec_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onemount", "spec", "check", "--spec-dir", str(spec_dir)],
        capture_output=True,
        text=True,
        check=False,
    )


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
    result = run_check(mutate(tmp_path, edits))
    assert result.returncode == 1
    assert "item: FAILED" in result.stdout
    assert expected in result.stdout, result.stdout


def test_unreachable_state_and_dead_end_are_reported(tmp_path: Path) -> None:
    spec_dir = mutate(
        tmp_path,
        {
            "  REMOVED:\n    final: true\n": (
                "  REMOVED:\n    final: true\n  LIMBO:\n    transitions: []\n"
            )
        },
    )
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
    result = run_check(spec_dir)
    assert result.returncode == 1
    assert "upload: FAILED" in result.stdout
    assert "no implementation: bindings module onemount.nowhere_bindings" in result.stdout
