"""Typed keys of the limiter's state."""

from __future__ import annotations

from aiohttp import web

from ._limits import Limits, Quota

LIMITS_KEY = web.AppKey("limits", Limits)
# The caller's quota, set by the rate limit middleware (absent when limits are off).
QUOTA_KEY = web.RequestKey("quota", Quota)
