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

from ._model import Bucket, Budget, Decision, Reservation

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

# KEYS: budget keys; ARGV: tokens, then (limit, window) per key.
# Returns {position, used, seconds left} of the first spent budget, or {0, window indexes...}.
_RESERVE = """
local now = tonumber(redis.call('TIME')[1])
local tokens = tonumber(ARGV[1])
local result = {0}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local index = math.floor(now / window)
  local used = tonumber(redis.call('GET', KEYS[i] .. ':' .. index) or '0')
  if used >= limit then
    return {i, used, (index + 1) * window - now}
  end
  result[i + 1] = index
end
for i = 1, #KEYS do
  local key = KEYS[i] .. ':' .. result[i + 1]
  redis.call('INCRBY', key, tokens)
  redis.call('EXPIRE', key, tonumber(ARGV[2 * i + 1]) + 60)
end
return result
"""

# KEYS: budget keys; ARGV: tokens (negative gives back), then (window, index or -1) per key.
_CHARGE = """
local now = tonumber(redis.call('TIME')[1])
local tokens = tonumber(ARGV[1])
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i])
  local index = tonumber(ARGV[2 * i + 1])
  if index < 0 then
    index = math.floor(now / window)
  end
  local key = KEYS[i] .. ':' .. index
  if tokens > 0 or redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, tokens)
    redis.call('EXPIRE', key, window + 60)
  end
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
        self._reserve = client.register_script(_RESERVE)
        self._charge = client.register_script(_CHARGE)

    async def hit(self, key: str, bucket: Bucket) -> Decision:
        result: Any = await self._hit(
            keys=[f"{self._prefix}rq:{key}"], args=[bucket.per_minute, bucket.burst]
        )
        return bucket.decision(bool(result[0]), float(result[1]))

    async def reserve(self, budgets: Sequence[Budget], tokens: int) -> Decision | Reservation:
        args: list[int] = [tokens]
        for budget in budgets:
            args += [budget.limit, budget.window]
        result: Any = await self._reserve(keys=self._keys(budgets), args=args)
        position = int(result[0])
        if position:
            return budgets[position - 1].refused(int(result[1]), int(result[2]))
        return Reservation(tokens, tuple(int(index) for index in result[1:]))

    async def charge(
        self, budgets: Sequence[Budget], tokens: int, reservation: Reservation | None = None
    ) -> None:
        if not budgets or tokens == 0:
            return
        windows = None if reservation is None else reservation.windows
        args: list[int] = [tokens]
        for position, budget in enumerate(budgets):
            args += [budget.window, -1 if windows is None else windows[position]]
        await self._charge(keys=self._keys(budgets), args=args)

    async def ping(self) -> None:
        await self.client.ping()

    async def load_scripts(self) -> None:
        """Load the scripts once up front, so no request pays for it (a restarted server loses
        them; the next call of each then loads it again by itself)."""
        for script in (self._hit, self._reserve, self._charge):
            await self.client.script_load(script.script)

    def _keys(self, budgets: Sequence[Budget]) -> list[str]:
        return [f"{self._prefix}tk:{budget.key}:{budget.window}" for budget in budgets]
