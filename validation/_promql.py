"""Metric names used by a PromQL expression, read from its syntax tree (promql-parser)."""

from __future__ import annotations

import re
from typing import Any

import promql_parser

# Grafana expands these before the query reaches Prometheus; any valid duration parses the same.
GRAFANA_INTERVAL = re.compile(r"\$__(rate_interval|interval|range)(_ms|_s)?\b|\$\{__\w+\}")
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


class PromQLError(ValueError):
    """The expression does not parse."""


def expand_grafana_variables(expr: str) -> str:
    return GRAFANA_VARIABLE.sub("grafana_variable", GRAFANA_INTERVAL.sub("5m", expr))


def metric_names(expr: str) -> set[str]:
    try:
        tree = promql_parser.parse(expr)
    except (ValueError, RuntimeError) as error:
        raise PromQLError(f"{expr!r} does not parse: {error}") from error
    names: set[str] = set()
    _collect(tree, names)
    return names


def _collect(node: Any, names: set[str]) -> None:
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            names.add(node.name)
        for matcher in node.matchers.matchers:
            if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
                names.add(matcher.value)
        return
    if isinstance(node, promql_parser.MatrixSelector):
        _collect(node.vector_selector, names)
    elif isinstance(node, promql_parser.Call):
        for argument in node.args:
            _collect(argument, names)
    elif isinstance(node, promql_parser.BinaryExpr):
        _collect(node.lhs, names)
        _collect(node.rhs, names)
    elif isinstance(node, promql_parser.AggregateExpr):
        _collect(node.expr, names)
        if node.param is not None:
            _collect(node.param, names)
    elif isinstance(
        node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        _collect(node.expr, names)
