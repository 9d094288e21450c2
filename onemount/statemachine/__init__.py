"""The state machines of onemount, declared once in ``spec/`` and derived from there.

* :mod:`.spec` reads the declarations (python-statemachine native YAML plus a sidecar).
* :mod:`.compiled` freezes them into the runtime's transition table (:func:`compiled`).
* :mod:`.check` validates them (``onemount spec check``).
* :mod:`.explore` proves the item machine's safety properties for every path to a depth.
* :mod:`.diagram` draws them (SVG, PNG, DOT, Mermaid) and tabulates them (Markdown).
"""

from onemount.statemachine.compiled import (
    CompiledMachine,
    InvalidTransition,
    compile_spec,
    compiled,
)
from onemount.statemachine.spec import (
    MachineSpec,
    SpecError,
    TransitionSpec,
    default_spec,
    load_spec,
    machine_names,
)

__all__ = [
    "CompiledMachine",
    "InvalidTransition",
    "MachineSpec",
    "SpecError",
    "TransitionSpec",
    "compile_spec",
    "compiled",
    "default_spec",
    "load_spec",
    "machine_names",
]
