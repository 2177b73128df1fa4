"""The core routes' paths (their records: app/core_routes.py). Here, apart from the records, so
the configuration (the default auth.public_paths) and the healthcheck CLI name them without
importing the views."""

from __future__ import annotations

from typing import Final

HEALTH_PATH: Final = "/health"
LIVE_PATH: Final = "/health/live"
READY_PATH: Final = "/health/ready"
METRICS_PATH: Final = "/metrics"
OPENAPI_PATH: Final = "/openapi.json"
# OAuth protected resource metadata (RFC 9728), and every path under it.
WELL_KNOWN_PATH: Final = "/.well-known/oauth-protected-resource"
