"""Run every check on every stack and on the repository, and print the loud summary."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TextIO

import yaml

from ._alerts import check_alert_rules
from ._checkov import SkipConfigError, check_policy
from ._custom_resources import check_custom_resources
from ._findings import REPOSITORY, CheckResult
from ._helm import check_helm_releases
from ._kubernetes import check_core_objects
from ._lint import check_dockerfile, check_workflows
from ._manifests import Stack, load_stack
from ._metric_names import check_metric_names
from ._pod_security import check_pod_security
from ._references import check_references
from ._server_metrics import PROMETHEUS_SYNTHETIC, ServerError, exposed_names, scrape_server
from ._tools import ToolMissingError

STACK_CHECKS = (
    "kubernetes",
    "custom-resources",
    "references",
    "pod-security",
    "helm",
    "policy",
    "alerts",
    "metrics",
)
REPOSITORY_CHECKS = ("dockerfile", "workflows")
ALL_CHECKS = ("render", *STACK_CHECKS, *REPOSITORY_CHECKS)
# Cluster stacks (cluster/, rendered as cluster-<stack>) hold Helm releases and cluster-wide
# custom resources but no workload of ours: no pod template for pod-security or checkov.
CLUSTER_PREFIX = "cluster-"
CLUSTER_STACK_CHECKS = ("kubernetes", "custom-resources", "references", "helm")


@dataclass
class Options:
    root: Path
    manifests: Path
    stacks: Sequence[str]
    checks: Sequence[str] = ALL_CHECKS
    alert_tests: Path | None = None
    server_python: Path | None = None
    server_config: Path | None = None
    exposed_metrics: Path | None = None


@dataclass
class Outcome:
    results: list[CheckResult] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)

    @property
    def findings(self) -> int:
        return sum(len(r.findings) for r in self.results)


def _guarded(result: CheckResult, check: Callable[[CheckResult], None]) -> CheckResult:
    """Run one check; a missing tool or a broken skip file is a finding, never a crash or a skip."""
    try:
        check(result)
    except (ToolMissingError, SkipConfigError, ServerError) as error:
        result.fail(result.check, str(error))
    return result


def _server_config(source: Path, scratch: Path) -> Path:
    config = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    # No drain pause when the scrape is done: the server is stopped right after it.
    config.setdefault("server", {})["drain_seconds"] = 0
    target = scratch / "server-config.yaml"
    target.write_text(yaml.safe_dump(config), encoding="utf-8")
    return target


def _exposed(options: Options, result: CheckResult) -> set[str] | None:
    result.runs += 1
    if options.exposed_metrics is not None:
        text = options.exposed_metrics.read_text(encoding="utf-8")
    else:
        python = options.server_python or options.root / ".venv" / "bin" / "python"
        source = options.server_config or options.root / "config" / "agentsmcp.yaml"
        with tempfile.TemporaryDirectory(prefix="validate-server-") as scratch:
            try:
                text = scrape_server(options.root, python, _server_config(source, Path(scratch)))
            except ServerError as error:
                result.fail("GET /metrics", str(error))
                return None
    names = exposed_names(text)
    if not names:
        result.fail("GET /metrics", "exposes no metric at all")
        return None
    return names | PROMETHEUS_SYNTHETIC


def _stack_checks(
    stack: Stack, options: Options, exposed: set[str] | None
) -> dict[str, Callable[[CheckResult], None]]:
    alert_tests = options.alert_tests or options.root / "tests" / "alerts"
    checks: dict[str, Callable[[CheckResult], None]] = {
        "kubernetes": partial(check_core_objects, stack),
        "custom-resources": partial(check_custom_resources, stack),
        "references": partial(check_references, stack),
        "pod-security": partial(check_pod_security, stack),
        "helm": partial(check_helm_releases, stack),
        "policy": partial(check_policy, stack),
        "alerts": partial(check_alert_rules, stack, alert_tests),
    }
    if exposed is not None:
        checks["metrics"] = partial(check_metric_names, stack, exposed)
    return checks


def run(options: Options) -> Outcome:
    outcome = Outcome()
    selected = set(options.checks)
    exposed: set[str] | None = None
    if "metrics" in selected:
        server = CheckResult("server-metrics", REPOSITORY)
        outcome.results.append(server)
        exposed = _exposed(options, server)

    stacks = options.stacks if selected & {"render", *STACK_CHECKS} else []
    for name in stacks:
        loading = CheckResult("render", name)
        stack = load_stack(name, options.manifests / name, loading)
        outcome.results.append(loading)
        outcome.objects[name] = len(stack.objects)
        if not stack.objects and not stack.helm_releases:
            continue
        checks = _stack_checks(stack, options, exposed)
        applicable = CLUSTER_STACK_CHECKS if name.startswith(CLUSTER_PREFIX) else STACK_CHECKS
        for check in applicable:
            if check in selected and check in checks:
                outcome.results.append(_guarded(CheckResult(check, name), checks[check]))

    repository: dict[str, Callable[[CheckResult], None]] = {
        "dockerfile": partial(check_dockerfile, options.root),
        "workflows": partial(check_workflows, options.root),
    }
    for check in REPOSITORY_CHECKS:
        if check in selected:
            outcome.results.append(_guarded(CheckResult(check, REPOSITORY), repository[check]))
    return outcome


def print_report(outcome: Outcome, out: TextIO = sys.stdout) -> None:
    findings = [f for r in outcome.results for f in r.findings]
    if findings:
        print(f"\n{'=' * 30} FINDINGS ({len(findings)}) {'=' * 30}", file=out)
        for finding in findings:
            print(f"FAIL {finding.render()}", file=out)
    rows: dict[str, list[int]] = {}
    failing_checks: dict[str, set[str]] = {}
    for result in outcome.results:
        row = rows.setdefault(result.stack, [0, 0])
        row[0] += result.runs
        row[1] += len(result.findings)
        if result.findings:
            failing_checks.setdefault(result.stack, set()).add(result.check)
    width = max([10, *(len(stack) for stack in rows)])
    header = f"{'stack':<{width}} {'objects':>8} {'checks run':>11} {'failures':>9}  failing checks"
    print(f"\n{header}\n{'-' * len(header)}", file=out)
    for stack, (runs, failures) in rows.items():
        objects = str(outcome.objects[stack]) if stack in outcome.objects else "-"
        failing = ", ".join(sorted(failing_checks.get(stack, ()))) or "-"
        print(f"{stack:<{width}} {objects:>8} {runs:>11} {failures:>9}  {failing}", file=out)
    if findings:
        print(
            f"\nVALIDATION FAILED: {len(findings)} finding(s). Fix them before deploying.", file=out
        )
    else:
        print("\nVALIDATION PASSED: 0 findings.", file=out)
