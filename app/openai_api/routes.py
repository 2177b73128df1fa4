"""The OpenAI-compatible front door's route records: ``/v1/models`` and ``/v1/chat/completions``."""

from __future__ import annotations

from aiohttp import hdrs

from app.config import AppConfig
from app.contract.openapi import JSON, SSE
from app.contract.routes import Reply, Route, agent_run_route
from app.http.responses import ANSWERED_BY

from . import handlers
from .models import ChatCompletion, ChatCompletionRequest, ChatCompletionStreamEvent, ModelList


def openai_routes(config: AppConfig) -> tuple[Route, ...]:
    return (
        Route(
            hdrs.METH_GET,
            "/v1/models",
            handlers.list_models,
            "get_models",
            "Agents as OpenAI models.",
            {200: Reply("Model list.", {JSON: ModelList})},
        ),
        agent_run_route(
            "/v1/chat/completions",
            handlers.chat_completions,
            "create_chat_completion",
            "OpenAI-compatible chat completion with an agent.",
            Reply(
                "A chat.completion, or SSE chunks with `stream: true`.",
                {JSON: ChatCompletion, SSE: ChatCompletionStreamEvent},
                ANSWERED_BY,
            ),
            ChatCompletionRequest,
        ),
    )
