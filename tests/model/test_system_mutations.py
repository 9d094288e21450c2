"""The system run can fail: each of the reference's bugs, switched back on, is found.

Each switch of :mod:`onemount.mutations` is a one-line hook in the runtime module that owns
the behaviour. With it on, the system machine must fail within a budget of examples; the test
prints how many it needed and the check that caught it (docs/model-conformance.md keeps the
table). The default tier runs a machine focused on the rules that can reach each bug (the rest
are switched off, so a budget of a few examples is enough); ``ONEMOUNT_MODEL_TIER=long`` runs
the whole machine, with every rule, for each switch.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RULE_MARKER, run_state_machine_as_test

from onemount import mutations
from tests.model.system_machine import SystemMachine
from tests.model.tiers import TIER, untimed

pytestmark = [pytest.mark.model, *untimed()]

#: The rules that can reach each bug (and the budget of examples to find it in).
FOCUS: dict[str, tuple[set[str], int]] = {
    "etag_invalidation": ({"overwrite", "remote_move", "go_offline", "go_online"}, 20),
    "remote_change_drops_dirty": ({"overwrite", "remote_edit", "go_offline", "go_online"}, 20),
    "cursor_before_apply": ({"crash_mid_delta", "remote_create", "sync"}, 20),
    "rename_cancels_upload": ({"while_uploading", "overwrite"}, 20),
    "truncate_not_uploaded": ({"truncate", "sync"}, 20),
    "empty_file_not_uploaded": ({"create_file", "sync"}, 20),
    "upload_keeps_dirty": ({"overwrite", "create_file"}, 20),
    "offline_ghost_empty": ({"go_offline", "read", "evict", "go_online"}, 20),
    "echo_is_conflict": ({"upload_answer_lost", "overwrite"}, 20),
    "stale_hydration_accepted": ({"remote_edit", "write_into", "evict"}, 20),
}


def rules(machine: type[SystemMachine]) -> set[str]:
    """The names of ``machine``'s rules (what Hypothesis collects: methods marked ``@rule``)."""
    return {n for n, f in inspect.getmembers(machine) if getattr(f, RULE_MARKER, None) is not None}


def focused(allowed: set[str]) -> type[SystemMachine]:
    """The system machine with every rule but ``allowed`` switched off."""
    unknown = allowed - rules(SystemMachine)
    assert not unknown, f"no such rules: {unknown}"
    off: dict[str, Any] = {name: None for name in rules(SystemMachine) - allowed}
    return type("Focused", (SystemMachine,), off)


def examples_to_failure(
    machine: type[SystemMachine], name: str, budget: int, steps: int
) -> tuple[int, str]:
    """Run ``machine`` with switch ``name`` on until it fails: (examples, what failed).

    The first failure is kept as it happened: when the bug shows only under some timing,
    Hypothesis's own report is about the replay that did not fail the same way.
    """
    made = 0
    first: tuple[int, BaseException] | None = None

    class Counted(machine):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            nonlocal made
            made += 1
            super().__init__()

        def _after(self, *, changed: bool = True) -> None:
            try:
                super()._after(changed=changed)
            except BaseException as exc:
                note(exc)
                raise

        def _expect(self, done: Any, code: int | None = None) -> None:
            try:
                super()._expect(done, code)
            except BaseException as exc:
                note(exc)
                raise

    def note(exc: BaseException) -> None:
        nonlocal first
        if first is None:
            first = (made, exc)

    config = settings(
        max_examples=budget,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    seeded = hypothesis.seed(2025)(Counted)
    with mutations.active(name), pytest.raises(BaseException) as failure:
        run_state_machine_as_test(seeded, settings=config)
    found, caught = first if first is not None else (made - 1, failure.value)
    while isinstance(caught, BaseExceptionGroup):
        caught = caught.exceptions[0]
    text = str(caught).strip()
    return found, f"{type(caught).__name__}: {' '.join(text.splitlines()[:2])}"


@pytest.mark.parametrize("name", sorted(mutations.KNOWN))
def test_the_model_run_finds(name: str) -> None:
    long = TIER == "long"
    allowed, budget = FOCUS[name]
    machine = SystemMachine if long else focused(allowed)
    started = time.monotonic()
    needed, caught = examples_to_failure(machine, name, budget * (10 if long else 1), 30)
    print(
        f"\n{name}: found after {needed} example(s) ({'every rule' if long else 'focused'},"
        f" {time.monotonic() - started:.1f} s): {caught}"
    )


def test_every_switch_has_a_focus() -> None:
    assert set(FOCUS) == set(mutations.KNOWN)


def test_an_unknown_switch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"), mutations.active("no_such_bug"):
        pass
