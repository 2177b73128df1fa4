"""``python -m validation``: validate the rendered stacks and the repository; exit 1 on findings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._runner import ALL_CHECKS, Options, print_report, run


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m validation", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument(
        "--manifests", type=Path, help="render output (default: ROOT/build/manifests)"
    )
    parser.add_argument(
        "--stacks", nargs="+", default=["dev", "staging", "prod"], help="stacks to validate"
    )
    parser.add_argument(
        "--only", nargs="+", choices=ALL_CHECKS, default=list(ALL_CHECKS), help="checks to run"
    )
    parser.add_argument(
        "--alert-tests", type=Path, help="promtool tests (default: ROOT/tests/alerts)"
    )
    parser.add_argument("--server-python", type=Path, help="interpreter that runs `python -m app`")
    parser.add_argument("--server-config", type=Path, help="server config for the /metrics scrape")
    parser.add_argument(
        "--exposed-metrics", type=Path, help="use this /metrics text instead of starting the server"
    )
    args = parser.parse_args(argv)
    root = args.root.absolute()
    return Options(
        root=root,
        manifests=(args.manifests or root / "build" / "manifests").absolute(),
        stacks=args.stacks,
        checks=args.only,
        alert_tests=args.alert_tests,
        server_python=args.server_python.absolute() if args.server_python else None,
        server_config=args.server_config,
        exposed_metrics=args.exposed_metrics,
    )


def main(argv: list[str] | None = None) -> int:
    outcome = run(parse_args(argv))
    print_report(outcome)
    return 1 if outcome.findings else 0


if __name__ == "__main__":
    sys.exit(main())
