"""agentsmcp agent server: app factory in :mod:`app.server`, entry point ``python -m app``."""

__version__ = "0.1.0"
