"""Metric names in alert expressions and dashboard queries against what the server exposes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ValidatorRun, edit, object_file

pytestmark = pytest.mark.slow

UNKNOWN = "agentsmcp_cache_hits_total"


def _edit_dashboard(manifests: Path, change: Callable[[dict[str, Any]], None]) -> None:
    def rewrite(document: dict[str, Any]) -> None:
        (key,) = document["data"]
        dashboard = json.loads(document["data"][key])
        change(dashboard)
        document["data"][key] = json.dumps(dashboard)

    edit(object_file(manifests, "configmap-agentsmcp-prod-agentsmcp-dashboard"), rewrite)


def test_the_real_server_exposes_every_metric_the_rules_and_dashboard_use(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    result = run_validator("--only", "metrics", manifests=manifests, metrics=True)

    assert result.returncode == 0, result.output
    assert "repo" in result.output  # the scrape of `python -m app` ran and is counted


def test_an_alert_on_a_metric_the_server_lacks_is_reported(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    def rename(document: dict[str, Any]) -> None:
        rule = document["spec"]["groups"][0]["rules"][1]
        rule["expr"] = str(rule["expr"]).replace("http_requests_total", "http_requests_count")

    edit(object_file(manifests, "prometheusrule-"), rename)

    result = run_validator("--only", "metrics", manifests=manifests)

    assert result.returncode == 1
    assert "metric http_requests_count is not exposed by the server's /metrics" in result.output


def test_a_dashboard_query_on_a_metric_the_server_lacks_is_reported(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    def add_panel(dashboard: dict[str, Any]) -> None:
        dashboard["panels"].append(
            {
                "id": 99,
                "title": "Cache hits",
                "type": "timeseries",
                "targets": [{"refId": "A", "expr": f"sum(rate({UNKNOWN}[$__rate_interval]))"}],
            }
        )

    _edit_dashboard(manifests, add_panel)

    result = run_validator("--only", "metrics", manifests=manifests)

    assert result.returncode == 1
    assert "panel Cache hits [A]: metric agentsmcp_cache_hits_total is not exposed" in result.output


def test_a_dashboard_that_is_not_json_or_has_a_broken_query_is_reported(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    unbalanced = "sum(rate(http_requests_total"
    _edit_dashboard(manifests, lambda d: d["panels"][0]["targets"][0].update(expr=unbalanced))
    edit(
        object_file(manifests, "configmap-agentsmcp-prod-agentsmcp-dashboard"),
        lambda d: d["data"].update({"broken.json": "{not json"}),
    )

    result = run_validator("--only", "metrics", manifests=manifests)

    assert result.returncode == 1
    assert "broken.json: is not valid JSON" in result.output
    assert "does not parse" in result.output


def test_a_server_that_cannot_start_fails_the_metrics_check(
    run_validator: Callable[..., ValidatorRun], manifests: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-venv" / "python"

    result = run_validator(
        "--only", "metrics", "--server-python", str(missing), manifests=manifests, metrics=True
    )

    assert result.returncode == 1
    assert f"cannot start {missing} -m app" in result.output
