"""The SDK internals app/providers/_templates.py overrides, calls or mirrors. If an SDK (or
httpx2) changes them, these fail naming what changed, instead of the templates quietly building
requests the SDK would no longer build (tests/app/providers/test_templates.py compares the two
for the settings and options it tries; these catch a change in what it does not try)."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic import _base_client as anthropic_base
from openai import _base_client as openai_base
from openai.lib import _client_auth as openai_auth

from app.providers._anthropic import AsyncAnthropic
from app.providers._openai import AsyncOpenAI

CHANGED = (
    "SDK internals changed: re-check app/providers/_templates.py and each client's"
    " template_inputs against the SDK's request building, then update this test"
)
SDK_CLIENTS: dict[str, Any] = {"openai": openai.AsyncOpenAI, "anthropic": anthropic.AsyncAnthropic}
OURS: dict[str, Any] = {"openai": AsyncOpenAI, "anthropic": AsyncAnthropic}
OPTIONS_FIELDS = {
    "openai": {
        "method", "url", "params", "headers", "max_retries", "timeout", "files",
        "idempotency_key", "post_parser", "follow_redirects", "security",
        "synthesize_event_and_data", "stream_mode", "content", "json_data", "extra_json",
    },
    "anthropic": {
        "method", "url", "params", "headers", "max_retries", "timeout", "files",
        "idempotency_key", "post_parser", "follow_redirects", "qualifiers", "span_name",
        "span_route", "span_query_params", "span_content_query_params", "span_attributes",
        "span_created_id", "content", "json_data", "extra_json",
    },
}  # fmt: skip
# What the SDKs run to build a request for the options the templates cover, and the inputs
# they read there (sha256 of their source). A change here may read a setting that no
# template_inputs lists.
BUILDING: dict[str, list[Callable[..., Any]]] = {
    "openai": [
        openai_base.BaseClient._build_request,
        openai_base.BaseClient._build_headers,
        openai_base.BaseClient._prepare_url,
        openai_base.BaseClient.default_headers.fget,  # type: ignore[attr-defined]
        openai_base.BaseClient.user_agent.fget,  # type: ignore[attr-defined]
        openai_base.BaseClient.platform_headers,
        openai_base._merge_headers,
        openai.AsyncOpenAI.default_headers.fget,  # type: ignore[attr-defined]
        openai.AsyncOpenAI._auth_headers,
        openai.AsyncOpenAI._validate_headers,
        openai_auth.async_auth_headers,
        openai_auth.async_bearer_auth,
        openai_auth.async_validate_headers,
    ],
    "anthropic": [
        anthropic_base.BaseClient._build_request,
        anthropic_base.BaseClient._build_headers,
        anthropic_base.BaseClient._prepare_url,
        anthropic_base.BaseClient.default_headers.fget,  # type: ignore[attr-defined]
        anthropic_base.BaseClient.user_agent.fget,  # type: ignore[attr-defined]
        anthropic_base.BaseClient.platform_headers,
        anthropic_base.build_headers,
        anthropic.AsyncAnthropic.default_headers.fget,  # type: ignore[attr-defined]
        anthropic.AsyncAnthropic.auth_headers.fget,  # type: ignore[attr-defined]
        anthropic.AsyncAnthropic._api_key_auth.fget,  # type: ignore[attr-defined]
        anthropic.AsyncAnthropic._bearer_auth.fget,  # type: ignore[attr-defined]
        anthropic.AsyncAnthropic._validate_headers,
    ],
    "httpx2": [
        httpx2.AsyncClient.build_request,
        httpx2.AsyncClient._merge_url,
        httpx2.AsyncClient._merge_headers,
        httpx2.AsyncClient._merge_cookies,
        httpx2.AsyncClient._merge_queryparams,
        httpx2.Request.__init__,
        httpx2.Request._prepare,
        httpx2.Request.read,
        httpx2.Headers.__setitem__,
        httpx2.Cookies.set_cookie_header,
    ],
}
# The request loop's hooks our clients replace where they would change nothing (the OpenAI
# auth hooks for a plain key, the idempotency key neither SDK sends), and the loop itself, which
# decides what the hooks get and returns a stream's raw response for cast_to=httpx2.Response.
HOOKS: dict[str, list[Callable[..., Any]]] = {
    "openai": [
        openai_base.AsyncAPIClient.request,
        openai_base.AsyncAPIClient._process_response,
        openai_base.AsyncAPIClient._prepare_options,
        openai_base.AsyncAPIClient._prepare_request,
        openai_base.AsyncAPIClient._send_request,
        openai_base.BaseClient.custom_auth.fget,  # type: ignore[attr-defined]
        openai_base.BaseClient._idempotency_key,
        openai.AsyncOpenAI._prepare_options,
        openai.AsyncOpenAI._prepare_request,
        openai.AsyncOpenAI._send_request,
        openai.AsyncOpenAI._send_with_auth_retry,
        openai.AsyncOpenAI.custom_auth.fget,  # type: ignore[attr-defined]
        openai_auth.async_prepare_options,
        openai_auth.async_prepare_request,
        openai_auth.async_send_request,
        openai_auth.async_send_with_auth_retry,
        openai_auth.asynccustom_auth,
    ],
    "anthropic": [
        anthropic_base.AsyncAPIClient.request,
        anthropic_base.AsyncAPIClient._process_response,
        anthropic_base.BaseClient._idempotency_key,
    ],
}
HOOK_DIGESTS = {
    "openai": "ef03b431b2c93b9aee1b3c1286933260ffbccaebff38e487255458e1bfbceb20",
    "anthropic": "c0733104b831cbf6394c2a1eff2b0ec328c6ae49915855d1e12dc23e6f9da58b",
}
SOURCE_DIGESTS = {
    "openai": "6e73c387e42d75c10d4df55faf2d0f715b10df89ba2cb137f3a6212ae4d68261",
    "anthropic": "192171883ea6a18b5d3b18b65509dcbd74ed1c771f1bc811e3bfe734b55d85db",
    "httpx2": "717c8ac254ee2a6ccdfb7820caed7824dc34dc72280d161fd4cc0bb697af3af6",
}


def shape(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [
        (parameter.name, parameter.kind, parameter.default)
        for parameter in inspect.signature(function).parameters.values()
    ]


def source(function: Callable[..., Any]) -> str:
    return " ".join(inspect.getsource(function).split())


KEYWORD = inspect.Parameter.KEYWORD_ONLY
POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
EMPTY = inspect.Parameter.empty


@pytest.mark.parametrize("name", SDK_CLIENTS)
def test_the_methods_we_override_or_call_keep_their_signatures(name: str) -> None:
    client = SDK_CLIENTS[name]
    building = [("self", POSITIONAL, EMPTY), ("options", POSITIONAL, EMPTY)]
    assert shape(client._build_request) == [*building, ("retries_taken", KEYWORD, 0)], CHANGED
    assert shape(client._build_headers) == [*building, ("retries_taken", KEYWORD, 0)], CHANGED
    assert shape(client.request) == [
        ("self", POSITIONAL, EMPTY),
        ("cast_to", POSITIONAL, EMPTY),
        ("options", POSITIONAL, EMPTY),
        ("stream", KEYWORD, False),
        ("stream_cls", KEYWORD, None),
    ], CHANGED
    assert inspect.iscoroutinefunction(client.request), CHANGED
    # Ours is mixed in before the SDK's class, so its _build_request is the one that runs.
    assert OURS[name].__mro__[2] is client, CHANGED
    assert OURS[name]._build_request is not client._build_request, CHANGED
    assert OURS[name].__name__ == client.__name__, CHANGED


@pytest.mark.parametrize("name", SDK_CLIENTS)
def test_post_constructs_the_options_post_json_copies(name: str) -> None:
    post = source(SDK_CLIENTS[name].post)
    assert (
        'opts = FinalRequestOptions.construct( method="post", url=path, json_data=body,'
        " content=content, files=await async_to_httpx_files(files), **options )" in post
    ), CHANGED
    assert "return await self.request(cast_to, opts, stream=stream, stream_cls=stream_cls)" in post
    parts = OURS[name].sdk_parts
    construct = source(parts.options_class.construct)
    assert "key: strip_not_given(value)" in construct, CHANGED
    assert set(parts.options_class.model_fields) == OPTIONS_FIELDS[name], CHANGED
    module = openai_base if name == "openai" else anthropic_base
    assert module.FinalRequestOptions is parts.options_class, CHANGED
    assert module.openapi_dumps is parts.dumps, CHANGED
    assert module.log is parts.log, CHANGED
    assert inspect.getmodule(parts.options_class).strip_not_given is parts.strip_not_given  # type: ignore[union-attr]


@pytest.mark.parametrize("name", SDK_CLIENTS)
async def test_the_settings_template_inputs_read_are_where_they_were(name: str) -> None:
    client = OURS[name](api_key="sk-1", base_url="http://127.0.0.1:9/")
    try:
        assert client._idempotency_header is None, CHANGED
        assert isinstance(client.default_headers, dict), CHANGED
        assert client.default_query == {}, CHANGED
        assert isinstance(client.base_url, httpx2.URL), CHANGED
        assert isinstance(client._client, httpx2.AsyncClient), CHANGED
        assert isinstance(client._custom_headers, dict), CHANGED
        if name == "openai":
            assert client._provider_runtime is None, CHANGED
            security = client.sdk_parts.options_class.construct(method="post", url="/").security
            assert client._auth_headers(security) == {"Authorization": "Bearer sk-1"}, CHANGED
            assert client._auth_query(security) == {}, CHANGED
        else:
            assert client._token_cache is None, CHANGED
    finally:
        await client.close()


def source_digest(functions: list[Callable[..., Any]]) -> str:
    digest = hashlib.sha256()
    for function in functions:
        digest.update(inspect.getsource(function).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("name", BUILDING)
def test_the_request_building_code_is_the_code_the_templates_were_checked_against(
    name: str,
) -> None:
    assert source_digest(BUILDING[name]) == SOURCE_DIGESTS[name], CHANGED


@pytest.mark.parametrize("name", HOOKS)
def test_the_request_loop_and_hooks_are_the_code_our_overrides_were_checked_against(
    name: str,
) -> None:
    assert source_digest(HOOKS[name]) == HOOK_DIGESTS[name], CHANGED
