"""``python -m app``: load the configuration, then serve until SIGTERM/SIGINT.

Exit status: 0 after a graceful shutdown, 2 for invalid configuration (one line per problem on
stderr), 1 if the server cannot start (for example, the port is in use).
"""

from __future__ import annotations

import asyncio
import sys

from app.config import ConfigError, load_config
from app.lifecycle import ListenError, serve
from app.observability.logging import configure_logging
from app.server import create_app

EXIT_CONFIG_ERROR = 2
EXIT_START_FAILURE = 1


def main() -> int:
    try:
        config = load_config()
        configure_logging(config)
        # create_app checks what needs the environment too, such as provider API keys.
        app = create_app(config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        asyncio.run(serve(app, config))
    except ListenError as exc:
        print(f"cannot listen on {exc.host}:{exc.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_START_FAILURE
    except OSError as exc:
        host, port = config.server.host, config.server.port
        print(f"cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_START_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
