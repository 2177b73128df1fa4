"""Checking a body built as a dict against the model that documents its shape."""

from __future__ import annotations

import json
from typing import Any, cast

from pydantic import BaseModel

from app.config import parse_config
from app.core import Agent
from app.http.sse import dumps
from app.providers import ChatProvider
from tests.fakes.appconfig import DEFAULT_AGENTS, JWT_SECRET

CONFIG = parse_config({"jwt_secret_key": JWT_SECRET, "agents": DEFAULT_AGENTS})
# Stands for a configured provider client: the bodies only ask whether there is one.
PROVIDER = cast(ChatProvider, object())
AGENT = Agent("coding", CONFIG.agents["coding"], PROVIDER)


def assert_shape(model: type[BaseModel], body: dict[str, Any]) -> None:
    """``body``, as sent, validates against ``model``, and the validated model dumps to the same
    JSON: no key the model lacks, none it requires missing, no value of another type."""
    sent = dumps(body)
    shaped = model.model_validate_json(sent).model_dump_json(exclude_unset=True)
    assert json.loads(shaped) == json.loads(sent)
