"""A2A tasks, kept for ``a2a.task_ttl_seconds`` after their last change: in this process (at most
``a2a.max_tasks``), or in the shared store when the deployment has one (``rate_limit.backend:
redis``), so that any replica answers GetTask, ListTasks and SubscribeToTask for a task another
runs. Each subject keeps its newest ``a2a.max_tasks_per_subject`` tasks.

A task is keyed by a digest of its subject and its id: another subject's id is simply not found.
A final state is final: once a task is saved completed, failed, canceled or rejected, later saves
of it (a cancel on one replica racing the end of the run on another) keep that state and return
it, in both stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

import structlog

from app.config import A2aSettings
from app.contract import errors
from app.errors import ServiceUnavailableError
from app.limits import store_errors

from ._wire import TERMINAL, Task

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = structlog.get_logger("agentsmcp.a2a")

CLOSE_SECONDS: Final = 2.0
# KEYS: the task, the subject's index; ARGV: the task, its creation time, the TTL, its id, the
# subject's bound. Returns the stored task when it is already final (and saves nothing), else nil.
_FINAL_STATES: Final = ", ".join(f"{state} = true" for state in sorted(TERMINAL))
_SAVE: Final = f"""
local stored = redis.call('GET', KEYS[1])
if stored then
  local final = {{{_FINAL_STATES}}}
  if final[cjson.decode(stored)['state']] then
    return stored
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return false
"""


class TaskStoreUnavailableError(ServiceUnavailableError):
    error = errors.TASK_STORE_UNAVAILABLE
    default_message = "The task store is unreachable; retry the request."


def subject_digest(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


class TaskStore(Protocol):
    async def save(self, subject: str, task: Task) -> Task:
        """Store ``task``; the task as stored: ``task``, or the final state it already had."""
        ...

    async def load(self, subject: str, task_id: str) -> Task | None: ...

    async def tasks(self, subject: str) -> list[Task]:
        """The subject's tasks, newest first."""
        ...

    async def aclose(self) -> None: ...


class MemoryTaskStore:
    """Tasks of this process: per subject the newest ``max_per_subject``, in all ``max_total``,
    each until ``ttl`` seconds after its last save."""

    def __init__(
        self,
        settings: A2aSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = settings.task_ttl_seconds
        self._max_per_subject = settings.max_tasks_per_subject
        self._max_total = settings.max_tasks
        self._clock = clock
        # subject digest -> task id -> (expiry, task); subjects ordered by their last save.
        self._subjects: OrderedDict[str, OrderedDict[str, tuple[float, Task]]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    async def save(self, subject: str, task: Task) -> Task:
        digest = subject_digest(subject)
        stored = self._live(digest)
        earlier = stored.get(task.id) if stored is not None else None
        if earlier is not None and earlier[1].terminal:
            return earlier[1]
        own = self._subjects.pop(digest, None) or OrderedDict()
        self._subjects[digest] = own
        if own.pop(task.id, None) is not None:
            self._count -= 1
        own[task.id] = (self._clock() + self._ttl, task)
        self._count += 1
        while len(own) > self._max_per_subject:
            own.popitem(last=False)
            self._count -= 1
        self._evict()
        return task

    async def load(self, subject: str, task_id: str) -> Task | None:
        own = self._live(subject_digest(subject))
        entry = own.get(task_id) if own is not None else None
        return None if entry is None else entry[1]

    async def tasks(self, subject: str) -> list[Task]:
        own = self._live(subject_digest(subject))
        return [] if own is None else [task for _, task in reversed(own.values())]

    async def aclose(self) -> None:
        self._subjects.clear()
        self._count = 0

    def _live(self, digest: str) -> OrderedDict[str, tuple[float, Task]] | None:
        """The subject's tasks with the expired ones dropped (they expire oldest first)."""
        own = self._subjects.get(digest)
        if own is None:
            return None
        now = self._clock()
        while own and next(iter(own.values()))[0] <= now:
            own.popitem(last=False)
            self._count -= 1
        if not own:
            del self._subjects[digest]
            return None
        return own

    def _evict(self) -> None:
        """Past ``max_total``: the oldest tasks of the least recently active subjects go."""
        while self._count > self._max_total:
            digest, own = next(iter(self._subjects.items()))
            own.popitem(last=False)
            self._count -= 1
            if not own:
                del self._subjects[digest]
        # Subjects whose tasks all expired are dropped as new saves pass them.
        for digest in list(itertools.islice(self._subjects, 2)):
            self._live(digest)


class RedisTaskStore:
    """Tasks in the shared store: one key per task, and per subject a sorted set of its task
    ids (by creation), trimmed to the newest ``max_per_subject``; all expire after ``ttl``."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, settings: A2aSettings, *, timeout: float
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}a2a:"
        self._ttl = int(settings.task_ttl_seconds)
        self._max_per_subject = settings.max_tasks_per_subject
        self._timeout = timeout
        self._save = client.register_script(_SAVE)

    def _task_key(self, digest: str, task_id: str) -> str:
        return f"{self._prefix}task:{digest}:{task_id}"

    def _index_key(self, digest: str) -> str:
        return f"{self._prefix}tasks:{digest}"

    async def save(self, subject: str, task: Task) -> Task:
        digest = subject_digest(subject)
        keys = [self._task_key(digest, task.id), self._index_key(digest)]
        args: list[str | float] = [
            task.encode(),
            task.created,
            self._ttl,
            task.id,
            self._max_per_subject,
        ]
        try:
            async with asyncio.timeout(self._timeout):
                final = await self._save(keys=keys, args=args)
        except store_errors() as exc:
            log.warning("a2a task store: save failed", error_type=type(exc).__name__)
            raise TaskStoreUnavailableError() from None
        return task if final is None else Task.decode(final)

    async def load(self, subject: str, task_id: str) -> Task | None:
        key = self._task_key(subject_digest(subject), task_id)
        try:
            async with asyncio.timeout(self._timeout):
                text = await self._client.get(key)
        except store_errors() as exc:
            log.warning("a2a task store: load failed", error_type=type(exc).__name__)
            raise TaskStoreUnavailableError() from None
        return None if text is None else Task.decode(text)

    async def tasks(self, subject: str) -> list[Task]:
        digest = subject_digest(subject)
        try:
            async with asyncio.timeout(self._timeout):
                ids = await self._client.zrevrange(self._index_key(digest), 0, -1)
                texts = (
                    await self._client.mget([self._task_key(digest, _text(i)) for i in ids])
                    if ids
                    else []
                )
        except store_errors() as exc:
            log.warning("a2a task store: list failed", error_type=type(exc).__name__)
            raise TaskStoreUnavailableError() from None
        return [Task.decode(text) for text in texts if text is not None]

    async def aclose(self) -> None:
        with contextlib.suppress(*store_errors()):
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._client.aclose()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
