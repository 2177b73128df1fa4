"""Validation of everything `make render` produces, plus the CI workflows and the Dockerfile.

Run it with ``python -m validation`` from the tools virtualenv (``make validate``)."""
