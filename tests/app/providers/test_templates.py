"""The requests the SDK clients build from templates (app/providers/_templates.py) are the ones
the SDKs build themselves: the same method, URL, headers in the same order, body bytes and
extensions, for many client settings and options; anything a template does not cover is built by
the SDK; and ``post_json`` hands the SDK's request loop the options ``post`` would have."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from app.providers import AnthropicProvider, ChatMessage, ChatParams, OpenAIProvider
from app.providers._anthropic import AsyncAnthropic
from app.providers._openai import AsyncOpenAI
from app.providers._templates import TemplatedRequests
from tests.fakes import Behavior, FakeServer

SDKS: dict[str, tuple[type[TemplatedRequests], Any, str]] = {
    "openai": (AsyncOpenAI, openai, "/chat/completions"),
    "anthropic": (AsyncAnthropic, anthropic, "/v1/messages"),
}
# A base URL with a path, one with a trailing slash, none, and an https one with an underscore
# (the Anthropic SDK adds an sni_hostname extension for it).
BASE_URLS = [
    "http://127.0.0.1:9/v1",
    "http://127.0.0.1:9/proxy/v1/",
    "http://localhost:9",
    "https://my_gateway.example.com/llm/",
]
TIMEOUTS: list[float | httpx2.Timeout | None] = [5, 60.0, httpx2.Timeout(10, connect=2), None]
BODIES: list[dict[str, Any]] = [
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64},
    {
        "model": "m",
        "messages": [{"role": "user", "content": 'naïve 東京 \u2028 "quoted" \\ 😀'}],
        "temperature": 0.3,
        "stop": ["END"],
        "metadata": {"user_id": "u-1"},
        "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
    },
    {"model": "m", "messages": [], "max_tokens": 1, "stream": True, "n": None, "f": 1e-7},
]


# The SDK client classes ours derive from, and their own _build_request (before any spy).
SDK_CLASSES = {name: client_class.__mro__[2] for name, (client_class, _, _) in SDKS.items()}
SDK_BUILD = {sdk_class: sdk_class._build_request for sdk_class in SDK_CLASSES.values()}


def make_client(name: str, base_url: str, client_timeout: Any, **options: Any) -> Any:
    client_class, sdk, _ = SDKS[name]
    if name == "anthropic":
        options.setdefault("open_telemetry", False)
    return client_class(
        api_key="sk-test-1",
        base_url=base_url,
        timeout=client_timeout,
        max_retries=2,
        http_client=sdk.DefaultAioHttpClient(),
        **options,
    )


def sdk_options(name: str, body: dict[str, Any], **extra: Any) -> Any:
    """The options the SDK's ``post`` constructs (its request loop copies them per attempt)."""
    _, sdk, path = SDKS[name]
    return sdk._models.FinalRequestOptions.construct(
        method="post", url=path, json_data=body, content=None, files=None, **extra
    )


def sdk_build(client: Any, options: Any, retries_taken: int) -> httpx2.Request:
    """The request the SDK's own ``_build_request`` builds (the method our class overrides)."""
    build = SDK_BUILD[type(client).__mro__[2]]
    request: httpx2.Request = build(client, options, retries_taken=retries_taken)
    return request


def differences(ours: httpx2.Request, theirs: httpx2.Request) -> list[str]:
    """Every way the two requests differ, as the transport would see them."""
    found = []
    for aspect, read in {
        "method": lambda r: r.method,
        "url": lambda r: str(r.url),
        "headers (all, in order)": lambda r: r.headers.raw,
        "body": lambda r: r.content,
        "stream type": lambda r: type(r.stream),
        "extensions": lambda r: r.extensions,
    }.items():
        if read(ours) != read(theirs):
            found.append(f"{aspect}: {read(ours)!r} != {read(theirs)!r}")
    return found


@pytest.fixture
def sdk_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the SDKs' own ``_build_request`` built for our clients."""
    built: list[str] = []
    for sdk_class, original in SDK_BUILD.items():

        def spy(
            self: Any,
            options: Any,
            *,
            retries_taken: int = 0,
            original: Callable[..., Any] = original,
        ) -> Any:
            built.append(options.url)
            return original(self, options, retries_taken=retries_taken)

        monkeypatch.setattr(sdk_class, "_build_request", spy)
    return built


def test_the_comparison_fails_on_any_difference() -> None:
    theirs = httpx2.Request("POST", "http://h/v1/x", headers={"a": "1", "b": "2"}, content=b"{}")
    variants = [
        httpx2.Request("PUT", "http://h/v1/x", headers={"a": "1", "b": "2"}, content=b"{}"),
        httpx2.Request("POST", "http://h/v1/y", headers={"a": "1", "b": "2"}, content=b"{}"),
        httpx2.Request("POST", "http://h/v1/x", headers={"b": "2", "a": "1"}, content=b"{}"),
        httpx2.Request("POST", "http://h/v1/x", headers={"a": "1", "B": "2"}, content=b"{}"),
        httpx2.Request("POST", "http://h/v1/x", headers={"a": "1", "b": "3"}, content=b"{}"),
        httpx2.Request("POST", "http://h/v1/x", headers={"a": "1", "b": "2"}, content=b"{ }"),
        httpx2.Request(
            "POST",
            "http://h/v1/x",
            headers={"a": "1", "b": "2"},
            content=b"{}",
            extensions={"t": 1},
        ),
    ]
    assert not differences(theirs, theirs)
    for variant in variants:
        assert differences(variant, theirs)


@pytest.mark.parametrize("client_timeout", TIMEOUTS, ids=str)
@pytest.mark.parametrize("base_url", BASE_URLS)
@pytest.mark.parametrize("name", SDKS)
async def test_a_template_builds_the_sdks_request(
    name: str, base_url: str, client_timeout: Any, sdk_builds: list[str]
) -> None:
    client = make_client(name, base_url, client_timeout)
    try:
        for body in BODIES:
            for retries_taken in (0, 1, 2, 0):
                options = sdk_options(name, body)
                ours = client._build_request(options, retries_taken=retries_taken)
                assert not differences(ours, sdk_build(client, options, retries_taken))
        # The SDK built the first request only; the others came from its template.
        assert len(sdk_builds) == 1
    finally:
        await client.close()


@pytest.mark.parametrize("name", SDKS)
async def test_a_rotated_key_or_new_settings_make_a_new_template(
    name: str, sdk_builds: list[str]
) -> None:
    client = make_client(name, BASE_URLS[1], 30.0)
    changes: list[Callable[[], None]] = [
        lambda: setattr(client, "api_key", "sk-rotated"),
        lambda: setattr(client, "timeout", httpx2.Timeout(3)),
        lambda: setattr(client, "base_url", "http://127.0.0.1:10/other/"),
        lambda: client._client.headers.update({"x-client": "1"}),
        lambda: client._custom_headers.update({"X-Custom": "2"}),
    ]
    try:
        for change in [lambda: None, *changes]:
            change()
            before = len(sdk_builds)
            for retries_taken in (0, 1):
                options = sdk_options(name, BODIES[1])
                ours = client._build_request(options, retries_taken=retries_taken)
                assert not differences(ours, sdk_build(client, options, retries_taken))
            assert len(sdk_builds) == before + 1
        assert "sk-rotated" in str(ours.headers["authorization"])
    finally:
        await client.close()


@pytest.mark.parametrize("name", SDKS)
async def test_cookies_from_the_jar_are_sent_as_the_sdk_sends_them(
    name: str, sdk_builds: list[str]
) -> None:
    client = make_client(name, BASE_URLS[0], 30.0)
    try:
        options = sdk_options(name, BODIES[0])
        client._build_request(options)
        # Like a load balancer's cookie set by a response, then changed by the next.
        for value in ("a", "b"):
            client._client.cookies.set("__cf_bm", value, domain="127.0.0.1")
            ours = client._build_request(options, retries_taken=1)
            assert ours.headers["cookie"] == f"__cf_bm={value}"
            assert not differences(ours, sdk_build(client, options, 1))
        # A rotated key: the new template is built while the jar holds a cookie.
        client.api_key = "sk-rotated"
        for _ in range(2):
            ours = client._build_request(options)
            assert not differences(ours, sdk_build(client, options, 0))
        assert sdk_builds == [options.url] * 2
    finally:
        await client.close()


def per_call_options(name: str) -> list[dict[str, Any]]:
    not_given = SDKS[name][1].NotGiven
    options: list[dict[str, Any]] = [
        {"headers": {"X-Call": "1"}},
        {"headers": {}},
        {"params": {"beta": "true"}},
        {"timeout": 3.0},
        {"timeout": None},
        {"extra_json": {"extra": 1}},
        {"max_retries": 0, "headers": {"x-stainless-retry-count": "9"}},
        {"json_data": [1, 2]},
        {"json_data": None, "content": b'{"raw":1}'},
        {"idempotency_key": "key-1", "headers": not_given()},
    ]
    return options


@pytest.mark.parametrize("name", SDKS)
async def test_other_requests_are_built_by_the_sdk(name: str, sdk_builds: list[str]) -> None:
    client = make_client(name, BASE_URLS[0], 30.0)
    try:
        client._build_request(sdk_options(name, BODIES[0]))
        expected = 1
        for extra in per_call_options(name):
            values = {"json_data": BODIES[0], "content": None, **extra}
            _, sdk, path = SDKS[name]
            options = sdk._models.FinalRequestOptions.construct(
                method="post", url=path, files=None, **values
            )
            ours = client._build_request(options, retries_taken=1)
            assert not differences(ours, sdk_build(client, options, 1)), extra
            if "idempotency_key" not in extra:
                expected += 1
            assert len(sdk_builds) == expected, extra
    finally:
        await client.close()


@pytest.mark.parametrize("name", SDKS)
async def test_the_sdk_builds_while_its_debug_log_is_on_or_for_other_clients(
    name: str, sdk_builds: list[str]
) -> None:
    sdk_log = logging.getLogger(f"{name}._base_client")
    client = make_client(name, BASE_URLS[0], 30.0, default_query={"api-version": "1"})
    plain = make_client(name, BASE_URLS[0], 30.0)
    idempotent = make_client(name, BASE_URLS[0], 30.0)
    idempotent._idempotency_header = "Idempotency-Key"
    level = sdk_log.level
    try:
        for candidate in (client, idempotent):
            for _ in range(2):
                options = sdk_options(name, BODIES[0], idempotency_key="k-1")
                ours = candidate._build_request(options)
                assert not differences(ours, sdk_build(candidate, options, 0))
        assert len(sdk_builds) == 4
        sdk_log.setLevel(logging.DEBUG)
        for _ in range(2):
            options = sdk_options(name, BODIES[0])
            assert not differences(plain._build_request(options), sdk_build(plain, options, 0))
        assert len(sdk_builds) == 6
    finally:
        sdk_log.setLevel(level)
        for each in (client, plain, idempotent):
            await each.close()


def comparable(options: Any) -> dict[str, Any]:
    """The options' values; a NotGiven (a new object in each) compares by its type."""
    return {
        name: type(value) if type(value).__name__ == "NotGiven" else value
        for name, value in options.__dict__.items()
    }


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", SDKS)
async def test_post_json_passes_the_options_post_constructs(
    name: str, stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(name, BASE_URLS[0], 30.0)
    _, _, path = SDKS[name]
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def request(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))

    monkeypatch.setattr(client, "request", request)
    # A stream is the SDK's raw response, which post returns for that cast_to.
    cast_to = httpx2.Response if stream else object
    try:
        for body in BODIES:
            await client.post(path, body=body, cast_to=cast_to, stream=stream)
            await client.post_json(path, body, stream=stream)
            (theirs_args, theirs_kwargs), (ours_args, ours_kwargs) = calls[-2:]
            assert ours_kwargs == {"stream": stream}
            assert theirs_kwargs == {"stream": stream, "stream_cls": None}
            assert ours_args[0] is theirs_args[0] is cast_to
            ours, theirs = ours_args[1], theirs_args[1]
            assert type(ours) is type(theirs)
            assert comparable(ours) == comparable(theirs)
            assert ours.model_fields_set == theirs.model_fields_set
            # post's construct copies the body (dropping NotGiven values); so does post_json.
            assert ours.json_data is not body
            assert ours.json_data == body
    finally:
        await client.close()


MESSAGES = [ChatMessage("user", "Write hello world")]
PARAMS = ChatParams(max_tokens=64, temperature=0.3, stop=("END",), user="u-1")


@pytest.fixture(params=["openai", "anthropic"])
def provider_name(request: Any) -> str:
    name: str = request.param
    return name


def post_json_by_post(client: Any) -> Callable[..., Any]:
    """``post_json`` as the adapters called the SDK before: its ``post``."""

    async def post_json(path: str, body: Any, *, stream: bool = False) -> Any:
        if not stream:
            return await client.post(path, body=body, cast_to=object)
        return await client.post(path, body=body, cast_to=httpx2.Response, stream=True)

    return post_json


@pytest.fixture
async def both(fake: FakeServer, provider_name: str) -> AsyncIterator[tuple[Any, Any]]:
    """Our adapter, and the same adapter on the SDK's own client class, calling its ``post``."""
    adapter = OpenAIProvider if provider_name == "openai" else AnthropicProvider
    api_base = fake.openai_url if provider_name == "openai" else fake.anthropic_url

    class OnTheSDKsClient(adapter):  # type: ignore[valid-type,misc]
        client_class = SDK_CLASSES[provider_name]

    providers = tuple(
        each(
            api_key="sk-1",
            api_base=api_base,
            max_retries=2,
            timeout=5,
            http_client=adapter.sdk.DefaultAioHttpClient(),
        )
        for each in (adapter, OnTheSDKsClient)
    )
    theirs = providers[1]._client
    assert type(theirs) is SDK_CLASSES[provider_name]
    theirs.post_json = post_json_by_post(theirs)
    yield providers
    for provider in providers:
        await provider.aclose()


async def test_the_upstream_sees_the_same_requests_with_retries(
    both: tuple[Any, Any], fake: FakeServer, provider_name: str
) -> None:
    upstream = fake.openai if provider_name == "openai" else fake.anthropic
    recorded = []
    for provider in both:
        upstream.reset()
        retry = Behavior(status=429, retry_after_ms=5)
        upstream.script(retry, Behavior(), retry, retry, Behavior())
        await provider.complete("m", "System.", MESSAGES, PARAMS)
        provider.rotate_key("sk-2")
        async for _ in provider.stream("m", "System.", MESSAGES, PARAMS):
            pass
        recorded.append((list(upstream.headers), list(upstream.requests)))
    (our_headers, our_bodies), (their_headers, their_bodies) = recorded
    assert [h["x-stainless-retry-count"] for h in our_headers] == ["0", "1", "0", "1", "2"]
    assert [h["authorization"] for h in our_headers] == ["Bearer sk-1"] * 2 + ["Bearer sk-2"] * 3
    assert our_headers == their_headers
    assert our_bodies == their_bodies
    # The options template is the SDK's construct, unchanged by the requests and their retries.
    ours = both[0]._client
    (path, options), *_ = ours._post_options.items()
    constructed = ours.sdk_parts.options_class.construct(
        method="post", url=path, json_data={}, content=None, files=None
    )
    assert comparable(options) == comparable(constructed)


async def test_an_idempotency_key_is_made_per_request_when_the_client_sends_one(
    both: tuple[Any, Any], fake: FakeServer, provider_name: str
) -> None:
    """Neither SDK sends one, so ours makes no key (a uuid4 per request); a client that
    does send one gets the SDK's: one per request, the same on its retries."""
    upstream = fake.openai if provider_name == "openai" else fake.anthropic
    for provider in both:
        upstream.reset()
        upstream.script(Behavior(), Behavior(status=429, retry_after_ms=5), Behavior())
        await provider.complete("m", "System.", MESSAGES, PARAMS)
        assert "idempotency-key" not in upstream.headers[-1]
        provider._client._idempotency_header = "Idempotency-Key"
        await provider.complete("m", "System.", MESSAGES, PARAMS)
        await provider.complete("m", "System.", MESSAGES, PARAMS)
        keys = [headers.get("idempotency-key") for headers in list(upstream.headers)[1:]]
        assert keys[0] == keys[1] != keys[2]
        prefix = "stainless-python-retry-"
        assert all(uuid.UUID(str(key).removeprefix(prefix)).version == 4 for key in keys)


async def test_an_api_key_provider_is_asked_for_every_request(fake: FakeServer) -> None:
    """Our OpenAI client skips the SDK's auth hooks only for a plain key: a key provider (or
    a workload identity, or a provider runtime) goes through them."""
    keys = iter(["sk-a", "sk-b"])

    async def key() -> str:
        return next(keys)

    client = AsyncOpenAI(
        api_key=key,
        base_url=fake.openai_url,
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(),
    )
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        await client.post_json("/chat/completions", body)
        upstream = await client.post_json(
            "/chat/completions", {**body, "stream": True}, stream=True
        )
        await upstream.aclose()
    finally:
        await client.close()
    assert [h["authorization"] for h in fake.openai.headers] == ["Bearer sk-a", "Bearer sk-b"]
