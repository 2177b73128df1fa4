"""The configured agents, each bound to its provider client (or to none in development)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from app.config import PROVIDER_KEY_ENV, AgentSettings, ProviderName
from app.providers import ChatProvider

from .errors import unknown_agent


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    settings: AgentSettings
    provider: ChatProvider | None

    @property
    def provider_name(self) -> str:
        return self.settings.provider

    @property
    def key_env(self) -> str:
        return PROVIDER_KEY_ENV[self.settings.provider]


class AgentRegistry:
    def __init__(
        self,
        agents: Mapping[str, AgentSettings],
        providers: Mapping[ProviderName, ChatProvider],
    ) -> None:
        self.created = int(time.time())
        self._agents = {
            name: Agent(name, settings, providers.get(settings.provider))
            for name, settings in agents.items()
        }

    def get(self, name: str) -> Agent:
        agent = self._agents.get(name)
        if agent is None:
            raise unknown_agent(name)
        return agent

    def find(self, name: str) -> Agent | None:
        return self._agents.get(name)

    def fallback_of(self, agent: Agent) -> Agent | None:
        name = agent.settings.fallback
        return self._agents.get(name) if name else None

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())

    def __len__(self) -> int:
        return len(self._agents)
