"""structlog setup: JSON or text lines on stdout, with secrets redacted from every event.

Both structlog loggers and the standard library's (aiohttp, openai, anthropic) go through the
same processors, so :class:`Redactor` sees every line before it is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from app.config import AppConfig

from . import tracing

REDACTED = "[REDACTED]"
# Keys whose values are secrets whatever they hold.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "api_key",
        "api-key",
        "x-api-key",
        "apikey",
        "password",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "jwt_secret_key",
        "jwt_previous_secret_key",
        "openai_api_key",
        "anthropic_api_key",
    }
)
# Provider keys (sk-..., sk-ant-..., sk-proj-...) and bearer credentials anywhere in a string.
_PATTERNS = (
    r"sk-[A-Za-z0-9_\-]{6,}",
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+",
    r"(?i:basic)\s+[A-Za-z0-9+/=]{8,}",
)
# What every match of a pattern holds: a case-sensitive literal, or a word the pattern matches
# in any case (casefolded: re.IGNORECASE also matches the long s, U+017F, for "s").
_PATTERN_LITERALS = ("sk-",)
_PATTERN_WORDS = ("bearer", "basic")
_PLAIN_KEYS_KEPT = 1024
# Configured secrets shorter than this are not searched for: they would redact ordinary words.
MIN_SECRET_LENGTH = 8
_MAX_DEPTH = 8


class Redactor:
    """structlog processor replacing secrets with ``[REDACTED]`` in every value of an event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        usable = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        literal = sorted(usable, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, literal), *_PATTERNS]))
        # Text that the pattern can match holds one of these (its case-sensitive literals, and
        # the case-insensitive words in casefolded text): a test in C, several times faster.
        self._literals = (*literal, *_PATTERN_LITERALS)
        # Event keys seen that are not sensitive in any case (keys are few: the code's).
        self._plain_keys: set[object] = set()

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if self._nothing_to_redact(event_dict):
            return event_dict
        for key, value in event_dict.items():
            event_dict[key] = self._clean(key, value, 0)
        return event_dict

    def _nothing_to_redact(self, event_dict: EventDict) -> bool:
        """The common event, flat and clean, in one search instead of one per value (an access
        or audit line cost about 8 us less). Anything else takes the full walk."""
        texts: list[str] = []
        for key, value in event_dict.items():
            kind = type(value)
            if kind is str:
                texts.append(value)
            elif kind is list:
                if not all(type(item) is str for item in value):
                    return False
                texts.extend(value)
            elif not (value is None or kind is int or kind is float or kind is bool):
                return False
            if value and not self._plain_key(key):
                return False
        # NUL joins them: no pattern matches it, so no match spans two values.
        text = "\0".join(texts)
        if not self._may_match(text):
            return True
        return self._pattern.search(text) is None

    def _plain_key(self, key: object) -> bool:
        if key in self._plain_keys:
            return True
        plain = not (isinstance(key, str) and key.lower() in SENSITIVE_KEYS)
        if plain and len(self._plain_keys) < _PLAIN_KEYS_KEPT:
            self._plain_keys.add(key)
        return plain

    def _may_match(self, text: str) -> bool:
        if any(literal in text for literal in self._literals):
            return True
        folded = text.casefold()
        return any(word in folded for word in _PATTERN_WORDS)

    def _clean(self, key: object, value: Any, depth: int) -> Any:
        if isinstance(key, str) and key.lower() in SENSITIVE_KEYS and value:
            return REDACTED
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        if depth >= _MAX_DEPTH:
            return REDACTED
        if isinstance(value, Mapping):
            return {k: self._clean(k, v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(None, item, depth + 1) for item in value]
        if isinstance(value, bytes):
            return self._pattern.sub(REDACTED, value.decode("utf-8", "replace"))
        # Objects are rendered with repr() later; redact that text now, never after.
        return self._pattern.sub(REDACTED, repr(value))


def add_trace_ids(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """``trace_id`` and ``span_id`` of the current span (when tracing is on and sampled)."""
    ids = tracing.current_ids()
    if ids is not None:
        event_dict["trace_id"], event_dict["span_id"] = ids
    return event_dict


def configure_logging(config: AppConfig, *, stream: TextIO | None = None) -> Redactor:
    """Configure structlog and the standard library logging for the whole process."""
    secrets = [
        secret.get_secret_value()
        for secret in (
            config.jwt_secret_key,
            config.jwt_previous_secret_key,
            config.openai_api_key,
            config.anthropic_api_key,
        )
        if secret is not None
    ]
    redactor = Redactor(secrets)
    level = logging.getLevelNamesMapping()[config.logging.level]
    output = stream if stream is not None else sys.stdout
    renderer: Processor
    if config.logging.format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    exception_processors: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, *exception_processors, redactor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *exception_processors,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's own access log would duplicate ours (and bypass request IDs).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return redactor
