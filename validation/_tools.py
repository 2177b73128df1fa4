"""Find and run the external validators (the tools virtualenv's and the system's)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TOOL_TIMEOUT_SECONDS = 300


class ToolMissingError(RuntimeError):
    """A validator is not installed: a setup problem, reported as a failure, never skipped."""


@dataclass(frozen=True)
class ToolRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


def find_tool(name: str, hint: str) -> str:
    """The tool next to this interpreter (the tools venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(f"{name} is not installed: {hint}")
    return found


def run_tool(argv: list[str], cwd: Path | None = None) -> ToolRun:
    """Run one validator; a hang becomes a failed run with the reason, not a traceback."""
    try:
        completed = subprocess.run(  # noqa: S603 - argv is fixed tool names and our paths
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        name = Path(argv[0]).name
        return ToolRun(-1, "", f"{name} did not finish within {TOOL_TIMEOUT_SECONDS} s")
    return ToolRun(completed.returncode, completed.stdout, completed.stderr)
