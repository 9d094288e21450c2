"""``pytest -m model``: the running system held to the model (tests/model/system_machine.py).

Tiers, chosen by ``ONEMOUNT_MODEL_TIER``:

* ``default`` (``make test``): a fixed budget of examples and steps that fits in well under
  five minutes on two cores (the figures are printed);
* ``long``: many more examples and longer runs, for a nightly or a release (about half an
  hour on two cores).

Replay: every run is seeded (``ONEMOUNT_MODEL_SEED``, default fixed per tier, so a CI run
explores the same examples every time). A failure prints the shrunk sequence of steps (Python
that replays as is: paste it into ``tests/model/regressions``) and the seed to run again with,
and ``ONEMOUNT_MODEL_REPLAY=<blob>`` re-runs exactly the failing example Hypothesis printed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import hypothesis
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.model.system_machine import SystemMachine
from tests.model.tiers import TIER, Figures, counted, untimed

pytestmark = [pytest.mark.model, *untimed()]


@dataclass(frozen=True)
class Tier:
    examples: int
    steps: int
    seed: int


TIERS = {
    "default": Tier(examples=20, steps=30, seed=20250101),
    "long": Tier(examples=200, steps=60, seed=20250102),
}


def tier() -> Tier:
    if TIER not in TIERS:
        raise pytest.UsageError(f"ONEMOUNT_MODEL_TIER={TIER!r}: one of {sorted(TIERS)}")
    chosen = TIERS[TIER]
    seed = os.environ.get("ONEMOUNT_MODEL_SEED")
    return chosen if seed is None else Tier(chosen.examples, chosen.steps, int(seed))


def run(machine: type[SystemMachine], chosen: Tier) -> None:
    """Run ``machine`` for the tier's examples; on failure say how to run it again."""
    config = settings(
        max_examples=chosen.examples,
        stateful_step_count=chosen.steps,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    seeded = hypothesis.seed(chosen.seed)(type(machine.__name__, (machine,), {}))
    blob = os.environ.get("ONEMOUNT_MODEL_REPLAY")
    if blob:
        seeded = hypothesis.reproduce_failure(hypothesis.__version__, blob.encode())(seeded)
    try:
        run_state_machine_as_test(seeded, settings=config)
    except BaseException:
        print(f"\nre-run with ONEMOUNT_MODEL_SEED={chosen.seed} (or the blob above as"
              " ONEMOUNT_MODEL_REPLAY)")  # fmt: skip
        raise


def test_the_system_follows_the_model() -> None:
    chosen = tier()
    figures = Figures()
    started = time.monotonic()
    try:
        run(counted(SystemMachine, figures), chosen)
    finally:
        print(
            f"\nsystem model ({TIER}): {figures} (budget {chosen.examples} examples of up to"
            f" {chosen.steps} steps), seed {chosen.seed}, {time.monotonic() - started:.1f} s"
        )
