"""The request limit middleware (after auth: it is keyed by the authenticated subject)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from app.app_keys import LIMIT_OVERRIDE_KEY, METRICS_KEY, SUBJECT_KEY
from app.config import AppConfig
from app.contract.routes import PathPolicies

from ._keys import LIMITS_KEY, QUOTA_KEY
from ._limits import request_limit_exceeded


def make_rate_limit_middleware(config: AppConfig, policies: PathPolicies) -> Middleware | None:
    """Probes, scrapes and the OAuth metadata are never limited (their routes' ``rate_limited``
    is off); public paths are limited per client IP, in-process."""
    if not config.rate_limit.enabled:
        return None
    auth_enabled = config.auth.enabled

    @web.middleware
    async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        policy = policies.of(request)
        if not policy.rate_limited:
            return await handler(request)
        subject = request.get(SUBJECT_KEY)
        public = False
        if subject is not None:
            key = "sub:" + subject
        elif policy.public or not auth_enabled:
            key = "ip:" + (request.remote or "unknown")
            public = policy.public
        else:
            # A CORS preflight: no credentials, nothing to key on; aiohttp-cors answers it cheaply.
            return await handler(request)
        limits = request.app[LIMITS_KEY]
        quota = limits.quota(key, subject, request.get(LIMIT_OVERRIDE_KEY))
        decision = await limits.hit(quota, local=public)
        if not decision.allowed:
            request.app[METRICS_KEY].rate_limited_total.inc()
            raise request_limit_exceeded(decision)
        request[QUOTA_KEY] = quota
        response = await handler(request)
        if not response.prepared:
            response.headers.update(decision.headers())
        return response

    return rate_limit_middleware
