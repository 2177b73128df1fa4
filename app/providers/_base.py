"""The interface every provider adapter implements."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

from ._models import ChatMessage, ChatParams, Completion, StreamItem


class ChatProvider(Protocol):
    """One long-lived SDK client. Every failure surfaces as :class:`ProviderError`."""

    name: str

    async def complete(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> Completion: ...

    def stream(
        self, model: str, system: str, messages: Sequence[ChatMessage], params: ChatParams
    ) -> AsyncGenerator[StreamItem, None]:
        """Text deltas and usage reports, then one :class:`StreamEnd`. Closing the iterator
        closes the upstream."""
        ...

    async def aclose(self) -> None: ...

    def rotate_key(self, api_key: str) -> None:
        """Use ``api_key`` from the next request on (a rotated secret file)."""
        ...
