"""Stored responses (``store``, ``previous_response_id``, GET and DELETE): kept for
:data:`TTL_SECONDS`, per subject, in this process (at most :data:`MAX_ENTRIES`) or, when the
deployment has the shared limits store (``rate_limit.backend: redis``), in Redis/Valkey so that
any replica continues a conversation.

A record is keyed by a digest of the creating subject and the response id: another subject's id
is simply not found. A record holds the response object and the conversation that led to it
(without ``instructions``, which OpenAI does not carry over), the answer included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

import structlog
from aiohttp import web

from app.app_keys import CONFIG_KEY
from app.contract import errors
from app.errors import ServiceUnavailableError
from app.limits import shared_store_client, store_errors
from app.providers import ChatMessage, ToolCall

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = structlog.get_logger("agentsmcp.responses")
T = TypeVar("T")

# OpenAI keeps responses for 30 days; a replica's memory and a shared store keep them a day.
TTL_SECONDS: Final = 24 * 3600
MAX_ENTRIES: Final = 1000
# A replica's memory holds at most this much of stored responses (their JSON text).
MAX_BYTES: Final = 64 * 1024 * 1024
CLOSE_SECONDS: Final = 2.0


class ResponseStoreUnavailableError(ServiceUnavailableError):
    error = errors.RESPONSE_STORE_UNAVAILABLE
    default_message = "The response store is unreachable; retry the request."


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: dict[str, Any]
    conversation: list[ChatMessage]

    def encode(self) -> str:
        messages = [
            [m.role, m.content, [[c.id, c.name, c.arguments] for c in m.tool_calls], m.tool_call_id]
            for m in self.conversation
        ]
        return json.dumps({"response": self.response, "conversation": messages})

    @classmethod
    def decode(cls, text: str | bytes) -> StoredResponse:
        data = json.loads(text)
        conversation = [
            ChatMessage(role, content, tuple(ToolCall(*call) for call in calls), call_id)
            for role, content, calls, call_id in data["conversation"]
        ]
        return cls(data["response"], conversation)


class ResponseStore(Protocol):
    async def save(self, subject: str, record: StoredResponse) -> None: ...

    async def load(self, subject: str, response_id: str) -> StoredResponse | None: ...

    async def delete(self, subject: str, response_id: str) -> bool: ...

    async def aclose(self) -> None: ...


def _key(subject: str, response_id: str) -> str:
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"responses:{digest}:{response_id}"


@dataclass(eq=False, kw_only=True, slots=True)
class MemoryResponseStore:
    """The newest records of this process, at most :data:`MAX_ENTRIES` and :data:`MAX_BYTES`,
    each for :data:`TTL_SECONDS`."""

    ttl: float = TTL_SECONDS
    max_entries: int = MAX_ENTRIES
    max_bytes: int = MAX_BYTES
    clock: Callable[[], float] = time.monotonic
    _records: OrderedDict[str, tuple[float, str]] = field(init=False, default_factory=OrderedDict)
    _bytes: int = field(init=False, default=0)

    async def save(self, subject: str, record: StoredResponse) -> None:
        key = _key(subject, record.response["id"])
        text = record.encode()
        self._drop(key)
        self._records[key] = (self.clock() + self.ttl, text)
        self._bytes += len(text)
        while len(self._records) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._records)))

    async def load(self, subject: str, response_id: str) -> StoredResponse | None:
        key = _key(subject, response_id)
        entry = self._records.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._drop(key)
            return None
        return StoredResponse.decode(entry[1])

    async def delete(self, subject: str, response_id: str) -> bool:
        found = await self.load(subject, response_id) is not None
        self._drop(_key(subject, response_id))
        return found

    async def aclose(self) -> None:
        self._records.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        entry = self._records.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])


class RedisResponseStore:
    """Records in the shared store, each expiring after :data:`TTL_SECONDS`. A failed save is
    logged (the answer is still given); a failed read is a 503."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, *, timeout: float, ttl: float = TTL_SECONDS
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout
        self._ttl = int(ttl)

    async def save(self, subject: str, record: StoredResponse) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.set(
                    self._prefix + _key(subject, record.response["id"]),
                    record.encode(),
                    ex=self._ttl,
                )
        except store_errors() as exc:
            log.warning("response store: save failed", error_type=type(exc).__name__)

    async def load(self, subject: str, response_id: str) -> StoredResponse | None:
        key = self._prefix + _key(subject, response_id)
        text = await self._read("load", self._client.get(key))
        return None if text is None else StoredResponse.decode(text)

    async def delete(self, subject: str, response_id: str) -> bool:
        key = self._prefix + _key(subject, response_id)
        return bool(await self._read("delete", self._client.delete(key)))

    async def _read(self, operation: str, call: Awaitable[T]) -> T:
        """``call`` within the store's timeout; a failure is logged and answered with a 503."""
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except store_errors() as exc:
            log.warning(f"response store: {operation} failed", error_type=type(exc).__name__)
            raise ResponseStoreUnavailableError() from None

    async def aclose(self) -> None:
        with contextlib.suppress(*store_errors()):
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._client.aclose()


RESPONSE_STORE_KEY: Final = web.AppKey("response_store", ResponseStore)


async def response_store_ctx(app: web.Application) -> AsyncIterator[None]:
    """The store while the app runs: the shared one when the deployment has it."""
    config = app[CONFIG_KEY]
    client = shared_store_client(config)
    store: ResponseStore
    if client is None:
        store = MemoryResponseStore()
    else:
        settings = config.rate_limit.redis
        store = RedisResponseStore(client, settings.key_prefix, timeout=settings.timeout_seconds)
    app[RESPONSE_STORE_KEY] = store
    try:
        yield
    finally:
        await store.aclose()
