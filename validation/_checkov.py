"""checkov policy checks. Skips live only in ``checkov-skips.yaml`` (one-line reason each)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ._findings import CheckResult
from ._manifests import Stack
from ._tools import find_tool, run_tool

SKIPS_FILE = Path(__file__).parent / "checkov-skips.yaml"
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
INLINE_SKIP_PREFIX = "checkov.io/skip"


class SkipConfigError(ValueError):
    """The skip file breaks its own rules (id format, one-line reason)."""


def load_skips(path: Path = SKIPS_FILE) -> dict[str, str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SkipConfigError(f"{path.name}: must map check IDs to reasons")
    problems = []
    for check_id, reason in data.items():
        if not isinstance(check_id, str) or not CHECK_ID.match(check_id):
            problems.append(f"{check_id!r} is not a checkov check ID like CKV_K8S_15")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            problems.append(f"{check_id}: needs a one-line reason")
    if problems:
        raise SkipConfigError(f"{path.name}: " + "; ".join(problems))
    return {str(k): str(v) for k, v in data.items()}


def _reports(output: str) -> list[dict[str, Any]]:
    parsed = json.loads(output)
    return parsed if isinstance(parsed, list) else [parsed]


def run_checkov(
    framework: str, target: Path, result: CheckResult, *, files: list[Path] | None = None
) -> None:
    """Run checkov on ``target`` (a directory or a file), or on exactly ``files`` when given;
    every failed check is a finding."""
    skips = load_skips()
    argv = [
        find_tool("checkov", "run `make tools`"),
        "--framework",
        framework,
        "--skip-download",
        "--output",
        "json",
        "--compact",
    ]
    if files is not None:
        for path in files:
            argv += ["--file", str(path)]
    elif target.is_dir():
        argv += ["--directory", str(target)]
    else:
        argv += ["--file", str(target)]
    if skips:
        argv += ["--skip-check", ",".join(sorted(skips))]
    run = run_tool(argv)
    result.runs += 1
    if run.returncode not in (0, 1):
        result.fail(
            str(target), f"checkov {framework} crashed (exit {run.returncode}): {run.output}"
        )
        return
    try:
        reports = _reports(run.stdout) if run.stdout.strip() else []
    except json.JSONDecodeError:
        result.fail(str(target), f"checkov {framework} printed no JSON report: {run.output}")
        return
    passed = 0
    for report in reports:
        results = report.get("results") or {}
        summary = report.get("summary") or {}
        passed += int(summary.get("passed", 0))
        if summary.get("parsing_errors"):
            result.fail(str(target), f"checkov {framework} could not parse some files")
        for failed in results.get("failed_checks") or []:
            result.fail(
                f"{failed.get('file_path', '?').lstrip('/')} {failed.get('resource', '')}".strip(),
                f"{failed.get('check_id')} {failed.get('check_name')}",
            )
        for skipped in results.get("skipped_checks") or []:
            if skipped.get("check_id") not in skips:
                result.fail(
                    f"{skipped.get('file_path', '?').lstrip('/')} {skipped.get('resource', '')}",
                    f"{skipped.get('check_id')} was skipped outside {SKIPS_FILE.name}",
                )
    if passed == 0 and not result.findings:
        result.fail(str(target), f"checkov {framework} ran no check: is the target empty?")


def _inline_skips(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [str(k) for k in node if str(k).startswith(INLINE_SKIP_PREFIX)]
        return found + [key for value in node.values() for key in _inline_skips(value)]
    if isinstance(node, list):
        return [key for item in node for key in _inline_skips(item)]
    return []


def check_policy(stack: Stack, result: CheckResult) -> None:
    for manifest in stack.objects:
        for key in _inline_skips(manifest.body):
            result.fail(manifest.label, f"annotation {key}: skip checks only in {SKIPS_FILE.name}")
    # The objects only: the helm/ summaries are not Kubernetes objects.
    run_checkov("kubernetes", stack.directory, result, files=[m.path for m in stack.objects])
