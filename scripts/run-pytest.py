"""Run pytest; under CI=true any skipped test fails the run (a skip in CI hides a missing tool)."""

from __future__ import annotations

import os
import sys

import pytest


class _SkipCounter:
    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped:
            self.skipped.append(report.nodeid)


def main() -> int:
    counter = _SkipCounter()
    code = int(pytest.main(sys.argv[1:], plugins=[counter]))
    if os.environ.get("CI", "").lower() == "true" and counter.skipped:
        print(
            f"CI=true: {len(counter.skipped)} skipped test(s) count as failures:", file=sys.stderr
        )
        for nodeid in counter.skipped:
            print(f"  {nodeid}", file=sys.stderr)
        return code or 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
