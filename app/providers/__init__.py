"""LLM providers behind one interface: the OpenAI and Anthropic SDK adapters and their errors.

Adapters translate the provider-neutral chat model (:class:`ChatMessage`, :class:`ChatParams`,
:class:`Completion`, stream items) to each provider and raise only :class:`ProviderError`.
"""

from ._anthropic import AnthropicProvider, translate_messages
from ._base import ChatProvider
from ._clients import build_providers, deprecated_models, missing_keys, used_providers
from ._errors import ErrorKind, ProviderError, ProviderNotConfigured
from ._models import (
    ChatMessage,
    ChatParams,
    Completion,
    FinishReason,
    Role,
    StreamEnd,
    StreamItem,
    Usage,
)
from ._openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "ChatMessage",
    "ChatParams",
    "ChatProvider",
    "Completion",
    "ErrorKind",
    "FinishReason",
    "OpenAIProvider",
    "ProviderError",
    "ProviderNotConfigured",
    "Role",
    "StreamEnd",
    "StreamItem",
    "Usage",
    "build_providers",
    "deprecated_models",
    "missing_keys",
    "translate_messages",
    "used_providers",
]
