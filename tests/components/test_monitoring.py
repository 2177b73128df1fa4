"""The alert rules' notion of a provider failure matches the outcomes the server records."""

from __future__ import annotations

from app.a2a_api import a2a_routes
from app.contract.routes import register
from app.core import metering
from app.openai_api import openai_routes
from app.providers import ErrorKind
from app.responses_api import responses_routes
from app.runs_api import runs_routes
from components.monitoring import AGENT_ROUTES, NON_FAILURE_OUTCOMES


def test_non_failure_outcomes_are_success_cancelled_and_client_request_errors() -> None:
    # "request": the provider refused the client's invalid request (a 400 to the client).
    assert set(NON_FAILURE_OUTCOMES.split("|")) == {
        metering.SUCCESS,
        metering.CANCELLED,
        ErrorKind.REQUEST.value,
    }


def test_agent_routes_are_the_servers_llm_routes() -> None:
    from aiohttp import web

    from app.config import parse_config

    app = web.Application()
    config = parse_config({"jwt_secret_key": "x"})
    register(
        app.router,
        (
            *openai_routes(config),
            *runs_routes(config),
            *responses_routes(config),
            *a2a_routes(config),
        ),
    )
    posts = {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "POST" and route.resource is not None
    }
    assert posts == set(AGENT_ROUTES)


def test_tool_server_outcomes_are_the_servers() -> None:
    from typing import get_args

    from app.tools._metrics import ToolCallOutcome
    from components.monitoring import TOOL_SERVER_CALLS, TOOL_SERVER_FAILURES

    outcomes = set(get_args(ToolCallOutcome))
    failures, calls = set(TOOL_SERVER_FAILURES.split("|")), set(TOOL_SERVER_CALLS.split("|"))
    assert failures < calls <= outcomes
    # What never reaches the tool server: the model's mistakes, left out of the ratio.
    assert outcomes - calls == {"invalid_arguments", "rejected"}


def test_metrics_used_are_registered_by_the_server() -> None:
    from components.monitoring import METRICS_USED
    from tests.components.test_program import _metric_names

    assert set(METRICS_USED) <= _metric_names(), set(METRICS_USED) - _metric_names()
