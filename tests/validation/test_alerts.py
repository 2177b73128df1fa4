"""PrometheusRule groups through promtool: syntax, unit tests, and test coverage per alert."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from validation._alerts import check_alert_rules
from validation._findings import CheckResult
from validation._manifests import load_stack

from .conftest import FIXTURES, STACK, edit, object_file, read_yaml, write_yaml

ALERTS = (
    "AgentsMCPDown",
    "HighErrorRate",
    "HighLatencyP99",
    "UpstreamErrors",
    "RateLimitSaturation",
)


@pytest.fixture
def alert_tests(tmp_path: Path) -> Path:
    directory = tmp_path / "alert-tests"
    shutil.copytree(FIXTURES / "alert-tests", directory)
    return directory


def _check(manifests: Path, alert_tests: Path) -> CheckResult:
    stack = load_stack(STACK, manifests / STACK, CheckResult("render", STACK))
    result = CheckResult("alerts", STACK)
    check_alert_rules(stack, alert_tests, result)
    return result


def _rule(document: dict[str, Any], alert: str) -> dict[str, Any]:
    rules: list[dict[str, Any]] = document["spec"]["groups"][0]["rules"]
    return next(rule for rule in rules if rule.get("alert") == alert)


def test_the_rendered_rules_pass_check_and_unit_tests(manifests: Path, alert_tests: Path) -> None:
    result = _check(manifests, alert_tests)

    assert result.passed, [f.message for f in result.findings]
    assert result.runs == 3


def test_the_tests_cover_every_alert_both_ways() -> None:
    tests = read_yaml(FIXTURES / "alert-tests" / f"{STACK}.yaml")
    cases = [t for case in tests["tests"] for t in case["alert_rule_test"]]

    for alert in ALERTS:
        assert any(t["alertname"] == alert and t["exp_alerts"] for t in cases), alert
        assert any(t["alertname"] == alert and not t["exp_alerts"] for t in cases), alert


def test_an_invalid_expression_fails_promtool_check(manifests: Path, alert_tests: Path) -> None:
    edit(
        object_file(manifests, "prometheusrule-"),
        lambda d: _rule(d, "HighErrorRate").update(expr="sum(rate(http_requests_total[5m])"),
    )

    result = _check(manifests, alert_tests)

    assert any("promtool check rules failed" in f.message for f in result.findings)


def test_a_loosened_threshold_fails_the_unit_test_that_expects_the_alert(
    manifests: Path, alert_tests: Path
) -> None:
    def loosen(document: dict[str, Any]) -> None:
        rule = _rule(document, "HighErrorRate")
        rule["expr"] = str(rule["expr"]).replace("> 0.01", "> 0.5")

    edit(object_file(manifests, "prometheusrule-"), loosen)

    result = _check(manifests, alert_tests)

    failures = [f.message for f in result.findings]
    assert len(failures) == 1, failures
    assert "promtool test rules failed" in failures[0]
    assert "HighErrorRate" in failures[0]


def test_an_alert_without_tests_is_reported(manifests: Path, alert_tests: Path) -> None:
    def add_alert(document: dict[str, Any]) -> None:
        document["spec"]["groups"][0]["rules"].append(
            {
                "alert": "TooManyTokens",
                "expr": "sum(rate(agentsmcp_llm_tokens_total[5m])) > 1000",
                "labels": {"severity": "warning"},
            }
        )

    edit(object_file(manifests, "prometheusrule-"), add_alert)

    result = _check(manifests, alert_tests)

    messages = [f.message for f in result.findings]
    assert "TooManyTokens: no test in which it fires on a breaching series" in messages
    assert "TooManyTokens: no test in which it stays silent on a healthy series" in messages


def test_a_stack_with_alerts_but_no_test_file_fails(manifests: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-tests"
    empty.mkdir()

    result = _check(manifests, empty)

    assert [f.message for f in result.findings] == [
        "missing: every stack with alerts needs promtool unit tests"
    ]


def test_a_firing_test_whose_expectation_is_wrong_fails(manifests: Path, alert_tests: Path) -> None:
    path = alert_tests / f"{STACK}.yaml"
    tests = read_yaml(path)
    silent = next(
        t
        for case in tests["tests"]
        for t in case["alert_rule_test"]
        if t["alertname"] == "RateLimitSaturation" and not t["exp_alerts"]
    )
    silent["exp_alerts"] = [{"exp_labels": {"severity": "warning", "service": "agentsmcp"}}]
    write_yaml(path, tests)

    result = _check(manifests, alert_tests)

    assert any("promtool test rules failed" in f.message for f in result.findings)
