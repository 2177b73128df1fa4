"""``python -m tools.issue_token --sub NAME [--ttl SECONDS]``: print a bearer token for an operator.

The token is signed with ``JWT_SECRET_KEY`` and carries the configured issuer and audience
(``AGENTSMCP_CONFIG``), so the server accepts it as-is.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import jwt

from app.auth import ALGORITHM
from app.config import ConfigError, load_config

DEFAULT_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 30 * 24 * 3600


def issue_token(*, secret: str, subject: str, issuer: str, audience: str, ttl: int) -> str:
    now = int(time.time())
    claims = {"sub": subject, "iss": issuer, "aud": audience, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _ttl(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TTL_SECONDS} seconds")
    return seconds


def _subject(value: str) -> str:
    if not value.strip() or len(value) > 256:
        raise argparse.ArgumentTypeError("must be a non-empty name of at most 256 characters")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.issue_token", description="Print a bearer token the server accepts."
    )
    parser.add_argument("--sub", required=True, type=_subject, help="token subject (who calls)")
    parser.add_argument(
        "--ttl",
        type=_ttl,
        default=DEFAULT_TTL_SECONDS,
        help=f"lifetime in seconds (default {DEFAULT_TTL_SECONDS})",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2
    if config.jwt_secret_key is None:
        print("config error: JWT_SECRET_KEY: required to sign a token", file=sys.stderr)
        return 2
    print(
        issue_token(
            secret=config.jwt_secret_key.get_secret_value(),
            subject=args.sub,
            issuer=config.auth.issuer,
            audience=config.auth.audience,
            ttl=args.ttl,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
