"""LLM providers behind one interface: the OpenAI and Anthropic SDK adapters and their errors.

Adapters translate the provider-neutral chat model (:class:`ChatMessage`, :class:`ChatParams`,
:class:`Completion`, stream items) to each provider and raise only :class:`ProviderError`.

Tool calling, the same for both providers: pass :class:`Tool` s (and optionally a
:class:`ToolChoice`, ``parallel_tool_calls``) in :class:`ChatParams`; a :class:`Completion` (or a
stream's :class:`StreamEnd`, after its :class:`ToolCallDelta` s) carries the :class:`ToolCall` s
with finish reason ``tool_calls``; send back ``ChatMessage("assistant", text, tool_calls=calls)``
then one ``ChatMessage("tool", result, tool_call_id=call.id)`` per call, and call again.
"""

import importlib
from typing import TYPE_CHECKING

from . import _models
from ._base import ChatProvider
from ._clients import build_providers, deprecated_models, missing_keys, used_providers
from ._errors import ErrorKind, ProviderError

# The chat model is the package's interface: its names are listed once, in _models.__all__.
from ._models import *  # noqa: F403

if TYPE_CHECKING:
    from ._anthropic import AnthropicProvider, translate_messages
    from ._openai import OpenAIProvider

# Each SDK is imported only when something uses its adapter: an SDK's types are most of the
# server's idle memory, so a deployment with only OpenAI agents should not pay for Anthropic's
# (bench/FINDINGS.md, section 3).
_LAZY_MODULES = {
    "AnthropicProvider": "._anthropic",
    "translate_messages": "._anthropic",
    "OpenAIProvider": "._openai",
}


def __getattr__(name: str) -> object:
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "AnthropicProvider",
    "ChatProvider",
    "ErrorKind",
    "OpenAIProvider",
    "ProviderError",
    "build_providers",
    "deprecated_models",
    "missing_keys",
    "translate_messages",
    "used_providers",
]
__all__ += _models.__all__
