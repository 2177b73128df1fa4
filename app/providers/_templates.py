"""The official SDKs' requests built from a template per client and path (bench/FINDINGS.md,
section 14).

Both SDKs build every request from scratch: they merge their default headers, parse the base
URL and the path again, and have httpx2 normalise every header twice: about 150 us per request,
a fifth of what a streamed call cost over a bare aiohttp one. For the requests the adapters
send (a JSON body posted to a fixed path, without per-call headers, query, files or timeout)
all but the body, its length and the retry count stay the same while the client's settings do.
So the SDK builds the first such request itself, and later ones copy it with their own body.
Every request compares the settings the SDK would read (:meth:`TemplatedRequests.template_inputs`)
with those the template was built from, and any other request is built by the SDK:
a rotated key, a new base URL or timeout makes a new template. The SDK's request loop (retries,
``Retry-After``, timeouts, its errors and its transport) is unchanged.
tests/app/providers/test_templates.py compares both ways of building for many options.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import httpx2

# The one header that changes from one attempt of a request to the next.
RETRY_COUNT = "x-stainless-retry-count"
# What the request loop gets as an idempotency key while the client sends none.
UNSENT_IDEMPOTENCY_KEY = "unsent"


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    """A request the SDK built, without what changes per request: its body, ``Content-Length``
    and the retry count (the cookie jar's header is added again per request, as httpx2 does)."""

    inputs: tuple[object, ...]
    method: str
    url: httpx2.URL
    headers: httpx2.Headers
    extensions: Mapping[str, Any]

    def request(self, body: bytes, retries_taken: int, cookies: httpx2.Cookies) -> httpx2.Request:
        # As httpx2 builds it: the jar's Cookie header after the others, Content-Length last.
        request = httpx2.Request(
            self.method,
            self.url,
            headers=self.headers,
            cookies=cookies,
            stream=httpx2.ByteStream(body),
            extensions=copied(self.extensions),
        )
        request.headers[RETRY_COUNT] = str(retries_taken)
        request.headers["Content-Length"] = str(len(body))
        request.read()
        return request


def copied(extensions: Mapping[str, Any]) -> dict[str, Any]:
    """A request's own copy of the extensions (httpx2 gives each request new timeout dicts)."""
    return {
        name: dict(value) if isinstance(value, dict) else value
        for name, value in extensions.items()
    }


def header_items(headers: Mapping[str, object]) -> tuple[tuple[str, object], ...]:
    """``headers`` comparable from one request to the next: an ``Omit`` (a header removed),
    a new object each time, compares by its type."""
    return tuple(
        (name, value if isinstance(value, str) else type(value)) for name, value in headers.items()
    )


@dataclass(frozen=True, slots=True)
class SDKParts:
    """What the templates use of one SDK."""

    options_class: Any  # FinalRequestOptions
    not_given: type
    # Its JSON encoder for bodies, and the function its FinalRequestOptions.construct applies to
    # each value.
    dumps: Callable[[Any], bytes]
    strip_not_given: Callable[[Any], Any]
    # The logger whose debug lines the SDK writes while building a request: while it is enabled
    # the SDK builds every request.
    log: logging.Logger


class TemplatedRequests:
    """Mixed into an SDK's async client class, before it: its ``_build_request`` copies a
    template for the adapters' requests and lets the SDK build every other one, and
    :meth:`post_json` is the SDK's ``post`` with options copied from a template."""

    sdk_parts: ClassVar[SDKParts]
    _client: httpx2.AsyncClient
    _idempotency_header: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The SDK client this class is mixed into.
        cast(Any, super()).__init__(*args, **kwargs)
        self._templates: dict[str, RequestTemplate] = {}
        self._post_options: dict[str, Any] = {}

    def template_inputs(self, options: Any) -> tuple[object, ...] | None:
        """What the SDK reads, besides the body and the retry count, to build a request for
        ``options``, or None if it is not a request a template can build."""
        raise NotImplementedError

    async def post_json(self, path: str, body: dict[str, Any], *, stream: bool = False) -> Any:
        """``post(path, body=body, cast_to=object)``: the answer as plain JSON; with ``stream``,
        ``post(path, body=body, cast_to=httpx2.Response, stream=True)``: the SDK's own raw
        response, its body unread (the adapters decode it; the SDK's ``AsyncAPIResponse`` and
        stream object around it were 2% of a streamed run's CPU and held about 30 MB at 1,000
        streams in flight, bench/FINDINGS.md section 14). The options are copied from
        ones the SDK constructed for ``path`` (pydantic's construct, which deep-copies every
        default, was about 25 us per request)."""
        options = self._post_options.get(path)
        if options is None:
            options = self.sdk_parts.options_class.construct(
                method="post", url=path, json_data={}, content=None, files=None
            )
            self._post_options[path] = options
        json_data = self.sdk_parts.strip_not_given(body)
        return await cast(Any, self).request(
            httpx2.Response if stream else object,
            options.model_copy(update={"json_data": json_data}),
            stream=stream,
        )

    def _idempotency_key(self) -> str:
        # The request loop makes a key (a uuid4) for every request but a GET, and only
        # _build_headers reads it, to send under _idempotency_header, which neither SDK sets:
        # 2% of a streamed run's CPU for nothing (bench/FINDINGS.md, section 14).
        if self._idempotency_header is None:
            return UNSENT_IDEMPOTENCY_KEY
        key: str = cast(Any, super())._idempotency_key()
        return key

    def _build_request(self, options: Any, *, retries_taken: int = 0) -> httpx2.Request:
        inputs = self._inputs(options)
        if inputs is not None:
            template = self._templates.get(options.url)
            if template is not None and template.inputs == inputs:
                body = self.sdk_parts.dumps(options.json_data)
                return template.request(body, retries_taken, self._client.cookies)
        request: httpx2.Request = cast(Any, super())._build_request(
            options, retries_taken=retries_taken
        )
        if inputs is not None and (template := self._template(options, inputs, request)):
            self._templates[options.url] = template
        return request

    def _inputs(self, options: Any) -> tuple[object, ...] | None:
        not_given = self.sdk_parts.not_given
        plain = (
            type(options.json_data) is dict
            and options.content is None
            and options.files is None
            and options.extra_json is None
            and not options.params
            and isinstance(options.headers, not_given)
            and isinstance(options.timeout, not_given)
            and self._idempotency_header is None
            and not self._client.params
            and not self.sdk_parts.log.isEnabledFor(logging.DEBUG)
        )
        if not plain:
            return None
        inputs = self.template_inputs(options)
        if inputs is None:
            return None
        client = self._client
        return (options.method, client, client.headers.raw, *inputs)

    def _template(
        self, options: Any, inputs: tuple[object, ...], request: httpx2.Request
    ) -> RequestTemplate | None:
        """The template of ``request``, which the SDK built for ``options``; None if it holds
        anything a template does not rebuild the same way."""
        own_headers = cast(Any, self)._build_headers(options)
        if "cookie" in own_headers or "cookie" in self._client.headers:
            return None
        raw = request.headers.raw
        if not raw or raw[-1][0].lower() != b"content-length" or RETRY_COUNT not in own_headers:
            return None
        if request.content != self.sdk_parts.dumps(options.json_data):
            return None
        # What is left of a Cookie header came from the cookie jar.
        headers = httpx2.Headers(raw[:-1])
        headers.pop("cookie", None)
        extensions = copied(request.extensions)
        return RequestTemplate(inputs, request.method, request.url, headers, extensions)
