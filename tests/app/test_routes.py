"""The route table (app/routes.py): each path is declared once, and the middlewares' path
policies follow from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import make_mocked_request

from app.contract.routes import PathPolicies, PathPolicy, Reply, Route, register
from app.core_routes import UNDECLARED_PREFIXES
from app.routes import route_table
from tests.app.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
OIDC = {"issuer": "https://idp.example.com", "audience": "https://a.example.com/mcp"}


async def _view(request: web.Request) -> web.Response:
    return web.Response()


def _route(
    path: str,
    method: str = hdrs.METH_GET,
    *,
    probe: bool = False,
    rate_limited: bool = True,
    served: bool = True,
) -> Route:
    reply = {200: Reply("ok")}
    return Route(
        method,
        path,
        _view,
        "op",
        "summary",
        reply,
        probe=probe,
        rate_limited=rate_limited,
        served=served,
    )


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_each_route_path_literal_is_written_in_at_most_two_modules() -> None:
    config = make_config(auth={"oidc": OIDC, "oauth_discovery": {"enabled": True}})
    paths = {route.path for route in route_table(config)}
    assert {"/health/live", "/metrics", "/v1/agents/{name}/runs", "/mcp"} <= paths
    constants = {module: _string_constants(module) for module in (ROOT / "app").rglob("*.py")}
    for path in paths:
        modules = sorted(str(module) for module, found in constants.items() if path in found)
        assert len(modules) <= 2, (path, modules)


async def _policy(policies: PathPolicies, app: web.Application, path: str) -> PathPolicy:
    # Resolved as the application does before its middlewares run.
    match_info = await app.router.resolve(make_mocked_request("GET", path, app=app))
    return policies.of(make_mocked_request("GET", path, app=app, match_info=match_info))


async def test_policies_follow_the_records_and_auth_public_paths() -> None:
    table = (
        _route("/probe", probe=True, rate_limited=False),
        _route("/listed"),
        _route("/private"),
        _route("/things/{name}"),
    )
    app = web.Application()
    register(app.router, table)
    listed = ["/listed", "/things/a", "/nowhere"]
    policies = PathPolicies(table, listed, UNDECLARED_PREFIXES)
    unlimited_public = PathPolicy(public=True, rate_limited=False)
    assert await _policy(policies, app, "/probe") == PathPolicy(public=False, rate_limited=False)
    assert await _policy(policies, app, "/listed") == PathPolicy(public=True, rate_limited=True)
    assert await _policy(policies, app, "/private") == PathPolicy(public=False, rate_limited=True)
    assert await _policy(policies, app, "/things/b") == PathPolicy(public=False, rate_limited=True)
    # A listed concrete path of a dynamic route is public, as listed.
    assert await _policy(policies, app, "/things/a") == PathPolicy(public=True, rate_limited=True)
    assert await _policy(policies, app, "/nowhere") == PathPolicy(public=True, rate_limited=True)
    assert await _policy(policies, app, "/unknown") == PathPolicy(public=False, rate_limited=True)
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/x",
    ):
        assert await _policy(policies, app, path) == unlimited_public
    assert (await _policy(policies, app, "/.well-known/oauth-protected-resourcex")).public is False


def test_routes_on_one_path_share_their_policy() -> None:
    table = (_route("/a"), _route("/a", hdrs.METH_POST, rate_limited=False))
    with pytest.raises(ValueError, match="share their policy"):
        PathPolicies(table, [], {})


def test_a_probe_is_never_rate_limited() -> None:
    with pytest.raises(ValueError, match="never rate limited"):
        _route("/probe", probe=True)


def test_register_adds_served_routes_and_head_to_get() -> None:
    app = web.Application()
    register(
        app.router,
        (_route("/a"), _route("/b", hdrs.METH_POST), _route("/c", served=False)),
    )
    routes = [(route.method, route.resource.canonical) for route in app.router.routes()]  # type: ignore[union-attr]
    assert routes == [("HEAD", "/a"), ("GET", "/a"), ("POST", "/b")]


def test_declared_but_unserved_metrics_keep_their_probe_policy() -> None:
    config = make_config(metrics={"port": 9100})
    metrics = [route for route in route_table(config) if route.path == "/metrics"]
    assert [(route.served, route.probe, route.rate_limited) for route in metrics] == [
        (False, True, False)
    ]
