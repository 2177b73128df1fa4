"""Every metric an alert expression or a Grafana dashboard query uses must be one the server
exposes; the dashboards must also be valid JSON with at least one query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ._alerts import expressions, rule_groups
from ._findings import CheckResult
from ._manifests import Manifest, Stack
from ._promql import PromQLError, expand_grafana_variables, metric_names

DASHBOARD_LABEL = "grafana_dashboard"


def dashboards(stack: Stack) -> list[Manifest]:
    return [
        m
        for m in stack.objects
        if m.kind == "ConfigMap"
        and DASHBOARD_LABEL in ((m.body.get("metadata") or {}).get("labels") or {})
    ]


def _panel_queries(panels: list[Any], where: str) -> Iterator[tuple[str, str]]:
    for index, panel in enumerate(panels):
        if not isinstance(panel, dict):
            continue
        title = f"{where} panel {panel.get('title') or index!s}"
        for target in panel.get("targets") or []:
            if isinstance(target, dict) and target.get("expr"):
                yield f"{title} [{target.get('refId', '?')}]", str(target["expr"])
        yield from _panel_queries(panel.get("panels") or [], where)


def dashboard_queries(stack: Stack, result: CheckResult) -> list[tuple[str, str]]:
    """(panel, query) of every dashboard panel; unparseable dashboards become findings."""
    queries: list[tuple[str, str]] = []
    for manifest in dashboards(stack):
        for key, text in (manifest.body.get("data") or {}).items():
            result.runs += 1
            where = f"{manifest.label} {key}"
            try:
                document = json.loads(text)
            except json.JSONDecodeError as error:
                result.fail(where, f"is not valid JSON: {error}")
                continue
            if not isinstance(document, dict):
                result.fail(where, "is not a Grafana dashboard object")
                continue
            found = list(_panel_queries(document.get("panels") or [], key))
            if not found:
                result.fail(where, "has no panel with a query")
            queries.extend(found)
    return queries


def check_metric_names(stack: Stack, exposed: set[str], result: CheckResult) -> None:
    groups = rule_groups(stack)
    recorded = {str(r["record"]) for g in groups for r in g.get("rules") or [] if "record" in r}
    used = [(f"rule {name}", expr, expr) for name, expr in expressions(groups)]
    used += [
        (panel, query, expand_grafana_variables(query))
        for panel, query in dashboard_queries(stack, result)
    ]
    for subject, original, expr in used:
        result.runs += 1
        try:
            names = metric_names(expr)
        except PromQLError as error:
            result.fail(subject, str(error))
            continue
        if not names:
            result.fail(subject, f"{original!r} selects no metric")
        for name in sorted(names - exposed - recorded):
            result.fail(subject, f"metric {name} is not exposed by the server's /metrics")
