"""Structured logging (:mod:`.logging`) and Prometheus metrics (:mod:`.metrics`)."""
