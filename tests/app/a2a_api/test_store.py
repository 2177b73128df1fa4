"""The in-process task store: expiring, bounded per subject and in all, a subject's own only."""

from __future__ import annotations

from app.a2a_api._store import MemoryTaskStore
from app.a2a_api._wire import Task, Turn, new_id, now_iso
from app.config import A2aSettings


def task(context: str = "c") -> Task:
    return Task(new_id(), context, "coding", "completed", now_iso(), (Turn("user", "x", "m"),))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_tasks_expire() -> None:
    clock = Clock()
    store = MemoryTaskStore(A2aSettings(task_ttl_seconds=10), clock=clock)
    saved = task()
    await store.save("alice", saved)
    assert await store.load("alice", saved.id) == saved
    clock.now = 11
    assert await store.load("alice", saved.id) is None
    assert await store.tasks("alice") == []
    assert len(store) == 0


async def test_a_subject_sees_only_its_own() -> None:
    store = MemoryTaskStore(A2aSettings())
    saved = task()
    await store.save("alice", saved)
    assert await store.load("bob", saved.id) is None
    assert await store.tasks("bob") == []


async def test_bounded_per_subject_and_in_all() -> None:
    store = MemoryTaskStore(A2aSettings(max_tasks_per_subject=3, max_tasks=5))
    for _ in range(10):
        await store.save("alice", task())
    assert len(await store.tasks("alice")) == 3
    for subject in ("bob", "carol"):
        for _ in range(3):
            await store.save(subject, task())
    assert len(store) == 5
    assert len(await store.tasks("carol")) == 3


async def test_round_trip_of_the_encoding() -> None:
    saved = task().moved("failed", "why")
    assert Task.decode(saved.encode()) == saved


async def test_idle_subjects_whose_tasks_expired_are_dropped() -> None:
    clock = Clock()
    store = MemoryTaskStore(A2aSettings(task_ttl_seconds=10), clock=clock)
    for subject in ("alice", "bob"):
        await store.save(subject, task())
    clock.now = 11
    await store.save("carol", task())
    assert len(store) == 1
