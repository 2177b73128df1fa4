"""The route record: one per method and path, declared once by the front door (or the core)
that owns its view. From the table of records the router registers the routes
(:func:`register`), the OpenAPI document describes them (app/openapi.py) and the auth and
rate-limit middlewares find a request's :class:`PathPolicy` (:class:`PathPolicies`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

Schema = Mapping[str, Any]
# A body: a model (its JSON schema is in the document's components), any of several models, or
# a JSON schema written out.
Body = type[BaseModel] | tuple[type[BaseModel], ...] | Schema

# What a route running an agent answers besides the middlewares' errors (HTTP front doors): an
# unknown agent, a body too large or not JSON, the provider's failures (502; 503 is shedding's
# and the provider's rate limit) and the agent's timeout.
AGENT_RUN_ERRORS = frozenset({404, 413, 415, 502, 504})


@dataclass(frozen=True, slots=True)
class Reply:
    """A response the view itself answers (not an error of the catalogue)."""

    description: str
    content: Mapping[str, Body] = field(default_factory=dict)  # media type -> body
    headers: Mapping[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    replies: Mapping[int, Reply]
    body: Body | None = None
    parameters: tuple[Schema, ...] = ()
    # Error statuses the view answers itself (the middlewares' follow from the flags).
    errors: frozenset[int] = frozenset()
    # A probe or a scrape (health, metrics): never rate limited.
    probe: bool = False
    # Served without a token whatever auth.public_paths says (public paths come from there).
    public: bool = False
    rate_limited: bool = True
    # Runs an agent (admission, token budgets, upstream failures).
    agent_run: bool = False
    # May answer 503 when the server sheds load (server.max_inflight_runs).
    may_shed: bool = False
    # The view answers CORS preflights itself (aiohttp-cors is not set up on its path).
    own_cors: bool = False
    # False: declared (its path policy holds) but not served on this listener.
    served: bool = True
    # How the front door's own error format is described; None: the API's error shape.
    error_response: Callable[[int], Schema | None] | None = None

    def __post_init__(self) -> None:
        if self.probe and self.rate_limited:
            raise ValueError(f"{self.path}: a probe is never rate limited")


def agent_run_route(
    path: str,
    handler: Handler,
    operation_id: str,
    summary: str,
    reply: Reply,
    body: Body,
    parameters: tuple[Schema, ...] = (),
) -> Route:
    """A front door's POST that runs an agent: it may shed, and answers an agent run's errors."""
    return Route(
        hdrs.METH_POST,
        path,
        handler,
        operation_id,
        summary,
        {200: reply},
        body=body,
        parameters=parameters,
        errors=AGENT_RUN_ERRORS,
        agent_run=True,
        may_shed=True,
    )


def register(router: web.UrlDispatcher, table: Iterable[Route]) -> None:
    """Add the served routes; a GET route answers HEAD too (as ``add_get`` does)."""
    for route in table:
        if not route.served:
            continue
        resource = router.add_resource(route.path)
        if route.method == hdrs.METH_GET:
            resource.add_route(hdrs.METH_HEAD, route.handler)
        resource.add_route(route.method, route.handler)


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """What the middlewares do on a path: ask for a token, count the request in a bucket (per
    client IP, in-process, when the path is public)."""

    public: bool
    rate_limited: bool


class PathPolicies:
    """The :class:`PathPolicy` of every declared path, with auth.public_paths applied; a path no
    route declares is public when listed there, or when under one of ``prefixes`` (their policy).
    A lookup is one or two dictionary reads."""

    def __init__(
        self,
        table: Iterable[Route],
        public_paths: Collection[str],
        prefixes: Mapping[str, PathPolicy],
    ) -> None:
        self._public_paths = frozenset(public_paths)
        self._prefixes = dict(prefixes)
        table = tuple(table)
        declared: dict[str, PathPolicy] = {}
        # Probes and scrapes: never traced.
        self._probes = frozenset(route.path for route in table if route.probe)
        for route in table:
            policy = PathPolicy(
                public=route.public or route.path in self._public_paths,
                rate_limited=route.rate_limited,
            )
            if declared.setdefault(route.path, policy) != policy:
                raise ValueError(f"{route.path}: routes on one path must share their policy")
        # A listed path no route declares (a concrete path of a dynamic route, say
        # /v1/agents/a/runs, or a route added outside the table) is looked up on the raw path.
        listed = {path: self.undeclared(path) for path in self._public_paths - declared.keys()}
        self._by_path = {**listed, **declared}

    def of(self, request: web.Request) -> PathPolicy:
        policy = self._by_path.get(request.path)
        if policy is not None:
            return policy
        resource = request.match_info.route.resource
        if resource is not None:
            policy = self._by_path.get(resource.canonical)
        return policy if policy is not None else self.undeclared(request.path)

    def is_probe(self, request: web.Request) -> bool:
        if request.path in self._probes:
            return True
        resource = request.match_info.route.resource
        return resource is not None and resource.canonical in self._probes

    def declared(self, path: str) -> PathPolicy:
        """The policy of a path the table declares."""
        return self._by_path[path]

    def undeclared(self, path: str) -> PathPolicy:
        for prefix, policy in self._prefixes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return policy
        return PathPolicy(public=path in self._public_paths, rate_limited=True)
