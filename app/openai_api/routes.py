"""The OpenAI-compatible front door's route records: ``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

from aiohttp import hdrs

from app.config import AppConfig
from app.contract.openapi import JSON, RATE_LIMIT_HEADERS, SSE
from app.contract.routes import AGENT_RUN_ERRORS, Reply, Route
from app.http.responses import AGENT_HEADER

from . import handlers
from .models import ChatCompletion, ChatCompletionRequest, ChatCompletionStreamEvent, ModelList


def openai_routes(config: AppConfig) -> tuple[Route, ...]:
    answered_by = {
        AGENT_HEADER: {"description": "The agent that answered.", "schema": {"type": "string"}}
    }
    return (
        Route(
            hdrs.METH_GET,
            "/v1/models",
            handlers.list_models,
            "get_models",
            "Agents as OpenAI models.",
            {200: Reply("Model list.", {JSON: ModelList}, RATE_LIMIT_HEADERS)},
        ),
        Route(
            hdrs.METH_POST,
            "/v1/chat/completions",
            handlers.chat_completions,
            "create_chat_completion",
            "OpenAI-compatible chat completion with an agent.",
            {
                200: Reply(
                    "A chat.completion, or SSE chunks with `stream: true`.",
                    {JSON: ChatCompletion, SSE: ChatCompletionStreamEvent},
                    answered_by,
                )
            },
            body=ChatCompletionRequest,
            errors=AGENT_RUN_ERRORS,
            agent_run=True,
            may_shed=True,
        ),
    )
