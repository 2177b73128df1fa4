"""PrometheusRule groups: ``promtool check rules``, then ``promtool test rules`` with the unit
tests in ``tests/alerts/<stack>.yaml``. Every alert must have a test in which it fires and one in
which it stays silent."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from ._findings import CheckResult
from ._manifests import Stack
from ._tools import find_tool, run_tool

PROMTOOL_HINT = "install the Debian package `prometheus` (it provides promtool)"


def rule_groups(stack: Stack) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for manifest in stack.objects:
        if manifest.kind == "PrometheusRule":
            groups.extend((manifest.body.get("spec") or {}).get("groups") or [])
    return groups


def alert_names(groups: list[dict[str, Any]]) -> set[str]:
    return {
        rule["alert"] for group in groups for rule in group.get("rules") or [] if "alert" in rule
    }


def expressions(groups: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(rule name, expression) of every alerting and recording rule."""
    return [
        (str(rule.get("alert") or rule.get("record")), str(rule.get("expr", "")))
        for group in groups
        for rule in group.get("rules") or []
    ]


def _coverage_problems(alerts: set[str], tests: dict[str, Any]) -> list[str]:
    firing: dict[str, int] = defaultdict(int)
    silent: dict[str, int] = defaultdict(int)
    for case in tests.get("tests") or []:
        for alert_test in case.get("alert_rule_test") or []:
            name = alert_test.get("alertname")
            if alert_test.get("exp_alerts"):
                firing[name] += 1
            else:
                silent[name] += 1
    problems = []
    for alert in sorted(alerts):
        if not firing[alert]:
            problems.append(f"{alert}: no test in which it fires on a breaching series")
        if not silent[alert]:
            problems.append(f"{alert}: no test in which it stays silent on a healthy series")
    for unknown in sorted((set(firing) | set(silent)) - alerts):
        problems.append(f"{unknown}: tested but not defined in the stack's PrometheusRules")
    return problems


def check_alert_rules(stack: Stack, tests_dir: Path, result: CheckResult) -> None:
    groups = rule_groups(stack)
    test_file = tests_dir / f"{stack.name}.yaml"
    if not groups:
        if test_file.is_file():
            result.fail(str(test_file), "alert tests exist but the stack renders no PrometheusRule")
        return
    promtool = find_tool("promtool", PROMTOOL_HINT)
    with tempfile.TemporaryDirectory(prefix=f"alerts-{stack.name}-") as scratch:
        rules = Path(scratch) / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
        result.runs += 1
        run = run_tool([promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules)])
        if run.returncode != 0:
            result.fail("PrometheusRule groups", f"promtool check rules failed:\n{run.output}")
        if not test_file.is_file():
            result.fail(
                str(test_file), "missing: every stack with alerts needs promtool unit tests"
            )
            return
        tests = yaml.safe_load(test_file.read_text(encoding="utf-8")) or {}
        result.runs += 1
        for problem in _coverage_problems(alert_names(groups), tests):
            result.fail(test_file.name, problem)
        # promtool resolves rule_files relative to the test file: test the rendered rules.
        tests["rule_files"] = [rules.name]
        copy = Path(scratch) / "tests.yaml"
        copy.write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
        result.runs += 1
        run = run_tool([promtool, "test", "rules", copy.name], cwd=Path(scratch))
        if run.returncode != 0:
            result.fail(test_file.name, f"promtool test rules failed:\n{run.output}")
