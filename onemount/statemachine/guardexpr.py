"""Guard expressions: the boolean language of ``cond`` and ``unless`` in ``spec/``.

A guard expression is a Python boolean expression over guard *names* only: ``and``, ``or``,
``not``, parentheses and the literals ``true``/``false``. That is exactly the subset
python-statemachine's restricted evaluator resolves against a model, so the library and the
compiled table read the same text. Anything else (calls, attributes, comparisons) is rejected
when the spec is loaded, because a guard that does I/O or arithmetic has no place in a
transition table.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Valuation = Mapping[str, bool]
_Evaluator = Callable[[Valuation], bool]


class GuardSyntaxError(ValueError):
    """A ``cond``/``unless`` text is not a boolean expression over guard names."""


@dataclass(frozen=True)
class GuardExpr:
    """A parsed guard: its source text, the names it reads, and a compiled evaluator."""

    source: str
    names: frozenset[str]
    _evaluate: _Evaluator = field(repr=False, compare=False)

    def __call__(self, valuation: Valuation) -> bool:
        return self._evaluate(valuation)


_LITERALS = re.compile(r"\b(?:true|false)\b")
_TRUE = GuardExpr("true", frozenset(), lambda _v: True)


def always() -> GuardExpr:
    """The guard of an unguarded transition."""
    return _TRUE


def parse(text: str) -> GuardExpr:
    """Parse one guard expression (``true``/``false`` spelled as in YAML or Python)."""
    normalized = _LITERALS.sub(lambda m: m.group(0).capitalize(), text)
    try:
        tree = ast.parse(normalized, mode="eval")
    except SyntaxError as exc:
        raise GuardSyntaxError(f"guard {text!r} is not an expression: {exc.msg}") from exc
    names: set[str] = set()
    evaluate = _compile(tree.body, text, names)
    return GuardExpr(text, frozenset(names), evaluate)


def conjunction(cond: str | None, unless: str | None) -> GuardExpr:
    """The guard of a transition: ``cond and not unless``, either part optional."""
    parts: list[GuardExpr] = []
    if cond:
        parts.append(parse(cond))
    if unless:
        negated = parse(unless)
        shown = negated.source if negated.source.isidentifier() else f"({negated.source})"
        parts.append(GuardExpr(f"not {shown}", negated.names, _negation(negated)))
    if not parts:
        return always()
    if len(parts) == 1:
        return parts[0]
    first, second = parts
    left = first.source if first.source.isidentifier() else f"({first.source})"
    return GuardExpr(
        f"{left} and {second.source}",
        first.names | second.names,
        lambda v: first(v) and second(v),
    )


def _negation(guard: GuardExpr) -> _Evaluator:
    return lambda v: not guard(v)


def _compile(node: ast.expr, text: str, names: set[str]) -> _Evaluator:
    """Validate ``node`` against the allowed grammar, then compile it to one Python lambda.

    The tree is checked first, node by node, so only names, ``and``/``or``/``not`` and boolean
    literals reach ``compile``; each name becomes ``v["name"]``. A single compiled lambda costs a
    fraction of a closure-per-operator evaluator, and guards run on every transition.
    """
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif not isinstance(child, _ALLOWED_NODES) or (
            isinstance(child, ast.Constant) and not isinstance(child.value, bool)
        ):
            raise GuardSyntaxError(
                f"guard {text!r}: only names, 'and', 'or', 'not' and true/false are allowed, "
                f"found {type(child).__name__}"
            )
    body = _Subscripted().visit(copy.deepcopy(node))
    lambda_node = ast.Lambda(
        args=ast.arguments(
            posonlyargs=[], args=[ast.arg("v")], kwonlyargs=[], kw_defaults=[], defaults=[]
        ),
        body=body,
    )
    expression = ast.fix_missing_locations(ast.Expression(lambda_node))
    evaluator: _Evaluator = eval(compile(expression, f"<guard {text}>", "eval"), {})
    return evaluator


_ALLOWED_NODES = (
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.UnaryOp,
    ast.Not,
    ast.BoolOp,
    ast.And,
    ast.Or,
)


class _Subscripted(ast.NodeTransformer):
    """Rewrite each guard name ``g`` as ``v["g"]``."""

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return ast.Subscript(
            value=ast.Name("v", ast.Load()), slice=ast.Constant(node.id), ctx=ast.Load()
        )
