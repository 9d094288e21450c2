"""``fire`` on the compiled table against a bare dict lookup and against python-statemachine.

Three figures, all in ns per transition, measured in this run:
* an unguarded transition (GHOST --hydrate_requested--> HYDRATING has one guard; the
  connectivity machine's ONLINE --request_ok--> ONLINE has none) against ``dict[(state, event)]``;
* a three-way guarded choice (HYDRATED --remote_changed-->) against the same dict lookup;
* the same guarded transition through python-statemachine's ``send`` on a machine restored from
  a row, which is what the runtime would pay per delta item without the compiled table.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Figure, best_time
from onemount.statemachine import compiled, default_spec

NS = 1e9


def _reference_send() -> float:
    spec = default_spec("item")
    reference_class = spec.library_class()
    namespace: dict[str, Any] = {name: (lambda self, *a, **k: None) for name in spec.effects}
    model_type = type("Row", (), namespace)

    def send_once() -> None:
        row = model_type()
        row.state = "HYDRATED"
        for name in spec.guards:
            setattr(row, name, False)
        row.content_changed = True
        reference_class(model=row).send("remote_changed")

    return best_time(send_once, number=200, repeat=3)


def collect() -> list[Figure]:
    connectivity = compiled("connectivity")
    item = compiled("item")
    plain = {(s, e): t for (s, e), ts in connectivity.table.items() for t in ts}
    key = ("ONLINE", "request_ok")
    dict_lookup = best_time(lambda: plain[key].target, number=200_000)
    unguarded = best_time(lambda: connectivity.fire("ONLINE", "request_ok"), number=200_000)
    guards = {"is_virtual": False, "content_changed": True, "pinned": False}
    guarded = best_time(lambda: item.fire("HYDRATED", "remote_changed", guards), number=100_000)
    library = _reference_send()
    return [
        Figure(
            "fire, unguarded (connectivity)",
            "ns/op",
            unguarded * NS,
            "dict[(state, event)]",
            dict_lookup * NS,
            higher_is_better=False,
        ),
        Figure(
            "fire, 3 guarded candidates (item)",
            "ns/op",
            guarded * NS,
            "dict[(state, event)]",
            dict_lookup * NS,
            higher_is_better=False,
        ),
        Figure(
            "fire, 3 guarded candidates (item)",
            "ns/op",
            guarded * NS,
            "python-statemachine send (restored)",
            library * NS,
            higher_is_better=False,
            note="ratio > 1: the compiled table is that many times faster",
        ),
    ]
