"""The shared store: Redis or Valkey, one Lua script (one round trip) per operation.

Scripts read the server's clock (``TIME``), so every replica agrees on buckets and windows
whatever its own clock says. Keys carry a TTL and vanish once they no longer matter.
Scripts build window keys themselves: a standalone server (or a primary with replicas) is
supported, Redis Cluster is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from ._model import Bucket, Budget, Decision

# KEYS[1] bucket; ARGV: per minute, burst. Returns {allowed, tokens left as text}.
_HIT = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = capacity
elseif now > stamp then
  tokens = math.min(capacity, tokens + (now - stamp) * rate / 60000)
else
  now = stamp
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 60000 / rate) + 1000)
return {allowed, string.format('%.6f', tokens)}
"""

# KEYS: budget keys; ARGV: limit, window (pairs). Returns {0} or {index, used, seconds left}.
_CHECK = """
local now = tonumber(redis.call('TIME')[1])
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local index = math.floor(now / window)
  local used = tonumber(redis.call('GET', KEYS[i] .. ':' .. index) or '0')
  if used >= limit then
    return {i, used, (index + 1) * window - now}
  end
end
return {0}
"""

# KEYS: budget keys; ARGV[1] tokens, then one window per key.
_CHARGE = """
local now = tonumber(redis.call('TIME')[1])
local tokens = tonumber(ARGV[1])
for i = 1, #KEYS do
  local window = tonumber(ARGV[i + 1])
  local key = KEYS[i] .. ':' .. math.floor(now / window)
  redis.call('INCRBY', key, tokens)
  redis.call('EXPIRE', key, window + 60)
end
return 1
"""


def connect(url: str, password: str | None, timeout: float) -> aioredis.Redis:
    """A client that fails fast: short connect and read timeouts, and one immediate retry
    only for a dropped connection (a pooled connection a restarted server closed)."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        password=password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_timeout=False,
        health_check_interval=0,
        decode_responses=False,
    )
    return client


class RedisStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self._prefix = prefix
        self._hit = client.register_script(_HIT)
        self._check = client.register_script(_CHECK)
        self._charge = client.register_script(_CHARGE)

    async def hit(self, key: str, bucket: Bucket) -> Decision:
        result: Any = await self._hit(
            keys=[f"{self._prefix}rq:{key}"], args=[bucket.per_minute, bucket.burst]
        )
        return bucket.decision(bool(result[0]), float(result[1]))

    async def check(self, budgets: Sequence[Budget]) -> Decision | None:
        if not budgets:
            return None
        args: list[int] = []
        for budget in budgets:
            args += [budget.limit, budget.window]
        result: Any = await self._check(keys=self._keys(budgets), args=args)
        index = int(result[0])
        if index == 0:
            return None
        return budgets[index - 1].refused(int(result[1]), int(result[2]))

    async def charge(self, budgets: Sequence[Budget], tokens: int) -> None:
        if not budgets or tokens <= 0:
            return
        await self._charge(
            keys=self._keys(budgets), args=[tokens, *(budget.window for budget in budgets)]
        )

    async def ping(self) -> None:
        await self.client.ping()

    def _keys(self, budgets: Sequence[Budget]) -> list[str]:
        return [f"{self._prefix}tk:{budget.key}:{budget.window}" for budget in budgets]
