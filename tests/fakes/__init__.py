"""Fake OpenAI Chat Completions and Anthropic Messages upstreams for tests, fault injection and
benchmarks. Run standalone with ``python -m tests.fakes --port N [--chunk-delay S]``."""

from ._base import Behavior, Disconnect, FakeUpstream, ScriptedCall
from ._server import FakeServer, build_app
from .anthropic import FakeAnthropic
from .openai import FakeOpenAI

__all__ = [
    "Behavior",
    "Disconnect",
    "FakeAnthropic",
    "FakeOpenAI",
    "FakeServer",
    "FakeUpstream",
    "ScriptedCall",
    "build_app",
]
