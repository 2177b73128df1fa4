"""The bad-input catalogue: hostile requests against ``python -m app`` over raw sockets.

Every entry must get its 4xx with a JSON error body in the API's shape. After the catalogue (run
twice, so the second pass shows steady state) the server is still ready, its memory has not
jumped and no log line holds a secret or a token used here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.app.conftest import make_token
from tests.fakes.appconfig import JWT_SECRET

from ._process import SECRETS, ServerProcess, fake_upstreams, get, running_server, server_config
from ._raw import Reply, exchange

MIB = 1024 * 1024
MAX_BODY_BYTES = 16 * MIB
TEN_MB = 10 * MIB
# Error bodies stay small whatever the request held: nothing large is echoed back.
MAX_ERROR_BODY_BYTES = 4096
MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
RUNS = "/v1/agents/coding/runs"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# These tokens are minted when the module is imported: they must outlive the whole suite run.
SUITE_LIFETIME = 6 * 3600


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "agentsmcp",
        "aud": "agentsmcp-api",
        "sub": "mallory",
        "iat": now,
        "exp": now + SUITE_LIFETIME,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT with an arbitrary header, HMAC-SHA256-signed with ``key`` (or unsigned)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{_b64(signature)}"


ALG_NONE = _unsigned({"alg": "none", "typ": "JWT"}, _claims(), None)
# The algorithm-confusion attack: an RS256 header, "signed" with our HMAC secret as the key.
RS256_WITH_SECRET = _unsigned({"alg": "RS256", "typ": "JWT"}, _claims(), JWT_SECRET.encode())
with warnings.catch_warnings():
    # PyJWT warns that the test secret is short for HS512: this token must be rejected anyway.
    warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
    HS512 = jwt.encode(_claims(), JWT_SECRET, algorithm="HS512")
EXPIRED = jwt.encode(_claims(exp=int(time.time()) - 3600), JWT_SECRET, algorithm="HS256")
NOT_YET_VALID = jwt.encode(_claims(nbf=int(time.time()) + 3600), JWT_SECRET, algorithm="HS256")
WRONG_ISSUER = jwt.encode(_claims(iss="someone-else"), JWT_SECRET, algorithm="HS256")
WRONG_AUDIENCE = jwt.encode(_claims(aud="another-api"), JWT_SECRET, algorithm="HS256")
MISSING_SUB = jwt.encode(_claims(sub=None), JWT_SECRET, algorithm="HS256")
NUMERIC_SUB = jwt.encode(_claims(sub=42), JWT_SECRET, algorithm="HS256")
WRONG_SECRET = jwt.encode(_claims(), "not-the-secret-" * 4, algorithm="HS256")
VALID = make_token("catalogue", ttl=SUITE_LIFETIME)
TOKENS = (
    ALG_NONE,
    RS256_WITH_SECRET,
    HS512,
    EXPIRED,
    NOT_YET_VALID,
    WRONG_ISSUER,
    WRONG_AUDIENCE,
    MISSING_SUB,
    NUMERIC_SUB,
    WRONG_SECRET,
    VALID,
)


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    code: str | None
    path: str = CHAT
    method: str = "POST"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = VALID
    raw: bytes | None = None
    send_body: bool = True

    def request(self) -> bytes:
        if self.raw is not None:
            return self.raw
        lines = [f"{self.method} {self.path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        if self.token is not None:
            lines.append(f"Authorization: Bearer {self.token}")
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json")
            headers.setdefault("Content-Length", str(len(self.body)))
        lines += [f"{name}: {value}" for name, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + (self.body if self.body is not None and self.send_body else b"")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def chat(**fields: Any) -> bytes:
    return _json({"model": "coding", "messages": MESSAGES, **fields})


def raw_request(*header_lines: str) -> bytes:
    lines = ["GET /v1/models HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *header_lines]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


BAD = "invalid_field"
CATALOGUE: list[Case] = [
    # Malformed bodies.
    Case("malformed JSON", 400, "invalid_json", body=b'{"model": "coding",, }'),
    Case("truncated JSON", 400, "invalid_json", body=chat()[:-7]),
    Case("empty body", 400, "bad_request", body=b""),
    Case("invalid UTF-8", 400, "invalid_json", body=b'{"model": "\xff\xfecoding"}'),
    Case("overlong UTF-8 slash", 400, "invalid_json", body=b'{"model": "\xc0\xafetc"}'),
    Case("lone surrogate escape", 400, "invalid_json", body=chat(user="x")[:-2] + b'\\ud800"}'),
    Case("NaN literal", 400, "invalid_json", body=b'{"model": "coding", "temperature": NaN}'),
    Case("infinite number", 400, "invalid_json", body=b'{"model": "coding", "top_p": 1e999}'),
    Case("arrays 10,000 deep", 400, "invalid_json", body=b"[" * 10_000 + b"]" * 10_000),
    Case(
        "objects 10,000 deep",
        400,
        "invalid_json",
        body=b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ),
    Case(
        "messages 10,000 deep",
        400,
        "invalid_json",
        body=b'{"model": "coding", "messages": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ),
    Case("body is an array", 400, BAD, body=b"[]"),
    Case("body is null", 400, BAD, body=b"null"),
    Case("body is a string", 400, BAD, body=b'"hello"'),
    Case(
        "not JSON content type",
        415,
        "unsupported_media_type",
        body=chat(),
        headers={"Content-Type": "text/plain"},
    ),
    Case(
        "body over the limit",
        413,
        "payload_too_large",
        body=b"x" * (MAX_BODY_BYTES + 1),
        send_body=False,
    ),
    # 10 MB strings.
    Case("10 MB agent name", 404, "agent_not_found", body=chat(model="a" * TEN_MB)),
    Case("10 MB messages string", 400, BAD, body=chat(messages="m" * TEN_MB)),
    Case("10 MB temperature", 400, BAD, body=chat(temperature="9" * TEN_MB)),
    Case("10 MB role", 400, BAD, body=chat(messages=[{"role": "r" * TEN_MB, "content": "x"}])),
    Case("10 MB run field name", 400, BAD, path=RUNS, body=_json({"i" * TEN_MB: 1})),
    # Wrong types in every field.
    Case("model a number", 400, BAD, body=chat(model=123)),
    Case("model missing", 400, BAD, body=_json({"messages": MESSAGES})),
    Case("messages an object", 400, BAD, body=chat(messages={"role": "user"})),
    Case("messages empty", 400, BAD, body=chat(messages=[])),
    Case("message a string", 400, BAD, body=chat(messages=["hi"])),
    Case("role unknown", 400, BAD, body=chat(messages=[{"role": "root", "content": "x"}])),
    Case("role an object", 400, BAD, body=chat(messages=[{"role": {}, "content": "x"}])),
    Case("role an array", 400, BAD, body=chat(messages=[{"role": ["user"], "content": "x"}])),
    Case("content a number", 400, BAD, body=chat(messages=[{"role": "user", "content": 7}])),
    Case(
        "content part an image",
        400,
        BAD,
        body=chat(messages=[{"role": "user", "content": [{"type": "image_url"}]}]),
    ),
    Case(
        "only a system message", 400, BAD, body=chat(messages=[{"role": "system", "content": "x"}])
    ),
    Case("stream a string", 400, BAD, body=chat(stream="yes")),
    Case("stream_options a string", 400, BAD, body=chat(stream_options="x")),
    Case("include_usage a number", 400, BAD, body=chat(stream_options={"include_usage": 1})),
    Case("temperature a string", 400, BAD, body=chat(temperature="hot")),
    Case("temperature too high", 400, BAD, body=chat(temperature=5)),
    Case("top_p negative", 400, BAD, body=chat(top_p=-1)),
    Case("stop a number", 400, BAD, body=chat(stop=5)),
    Case("five stop sequences", 400, BAD, body=chat(stop=["a", "b", "c", "d", "e"])),
    Case("user an object", 400, BAD, body=chat(user={})),
    Case("n of 2", 400, BAD, body=chat(n=2)),
    Case("max_tokens negative", 400, BAD, body=chat(max_tokens=-1)),
    Case("max_tokens zero", 400, BAD, body=chat(max_tokens=0)),
    Case("max_tokens enormous", 400, BAD, body=chat(max_tokens=10**30)),
    Case("max_completion_tokens 2**63", 400, BAD, body=chat(max_completion_tokens=2**63)),
    Case("max_tokens a float", 400, BAD, body=chat(max_tokens=1.5)),
    Case("max_tokens a boolean", 400, BAD, body=chat(max_tokens=True)),
    Case(
        "bad max_tokens beside a good max_completion_tokens",
        400,
        BAD,
        body=chat(max_completion_tokens=10, max_tokens=-5),
    ),
    Case("run unknown field", 400, BAD, path=RUNS, body=_json({"input": "x", "model": "y"})),
    Case("run input a number", 400, BAD, path=RUNS, body=_json({"input": 1})),
    Case("run input blank", 400, BAD, path=RUNS, body=_json({"input": "   "})),
    Case("run metadata a list", 400, BAD, path=RUNS, body=_json({"input": "x", "metadata": []})),
    Case(
        "run metadata 17 keys",
        400,
        BAD,
        path=RUNS,
        body=_json({"input": "x", "metadata": {str(i): i for i in range(17)}}),
    ),
    # Unknown agents and path traversal in the agent name.
    Case(
        "unknown agent",
        404,
        "agent_not_found",
        path="/v1/agents/nope/runs",
        body=_json({"input": "x"}),
    ),
    Case(
        "encoded traversal",
        404,
        "agent_not_found",
        path="/v1/agents/..%2F..%2Fetc%2Fpasswd/runs",
        body=_json({"input": "x"}),
    ),
    Case(
        "dot-dot traversal",
        404,
        None,
        path="/v1/agents/../../../etc/passwd/runs",
        body=_json({"input": "x"}),
    ),
    Case(
        "NUL in the agent name",
        404,
        "agent_not_found",
        path="/v1/agents/coding%00/runs",
        body=_json({"input": "x"}),
    ),
    Case(
        "backslash traversal",
        404,
        "agent_not_found",
        path="/v1/agents/..%5C..%5Cwindows/runs",
        body=_json({"input": "x"}),
    ),
    Case("unknown path", 404, "not_found", path="/v1/../admin", method="GET"),
    Case("wrong method", 405, "method_not_allowed", method="GET"),
    # Header injection in X-Request-ID: the server must generate its own ID instead.
    Case(
        "request ID with encoded CRLF",
        404,
        "agent_not_found",
        path="/v1/agents/x/runs",
        body=_json({"input": "x"}),
        headers={"X-Request-ID": "abc%0d%0aSet-Cookie:%20pwned=1"},
    ),
    Case(
        "request ID with bare CR",
        400,
        "bad_http_request",
        raw=raw_request("X-Request-ID: abc\rSet-Cookie: pwned=1"),
    ),
    Case("request ID with NUL", 400, "bad_http_request", raw=raw_request("X-Request-ID: a\x00b")),
    Case(
        "request ID with obs-fold",
        400,
        "bad_http_request",
        raw=raw_request("X-Request-ID: abc", " Set-Cookie: pwned=1"),
    ),
    Case(
        "request ID of 300 characters",
        404,
        "agent_not_found",
        path="/v1/agents/x/runs",
        body=_json({"input": "x"}),
        headers={"X-Request-ID": "r" * 300},
    ),
    Case(
        "request ID with spaces and quotes",
        404,
        "agent_not_found",
        path="/v1/agents/x/runs",
        body=_json({"input": "x"}),
        headers={"X-Request-ID": 'a" onload="x'},
    ),
    # Tokens.
    Case("no token", 401, "missing_token", token=None, body=chat()),
    Case(
        "basic credentials",
        401,
        "missing_token",
        token=None,
        body=chat(),
        headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    ),
    Case("garbage token", 401, "invalid_token", token="not.a.jwt", body=chat()),
    Case("alg none", 401, "invalid_token", token=ALG_NONE, body=chat()),
    Case("HS512", 401, "invalid_token", token=HS512, body=chat()),
    Case(
        "RS256 with our secret as the key",
        401,
        "invalid_token",
        token=RS256_WITH_SECRET,
        body=chat(),
    ),
    Case("expired", 401, "invalid_token", token=EXPIRED, body=chat()),
    Case("not yet valid", 401, "invalid_token", token=NOT_YET_VALID, body=chat()),
    Case("wrong issuer", 401, "invalid_token", token=WRONG_ISSUER, body=chat()),
    Case("wrong audience", 401, "invalid_token", token=WRONG_AUDIENCE, body=chat()),
    Case("missing sub", 401, "invalid_token", token=MISSING_SUB, body=chat()),
    Case("numeric sub", 401, "invalid_token", token=NUMERIC_SUB, body=chat()),
    Case("wrong secret", 401, "invalid_token", token=WRONG_SECRET, body=chat()),
    Case("token of 5000 characters", 401, "invalid_token", token="e" * 5000, body=chat()),
    # Parser limits.
    Case(
        "header larger than the limit",
        431,
        "request_header_too_large",
        raw=raw_request("X-Padding: " + "p" * 9000),
    ),
    Case(
        "token larger than the header limit",
        431,
        "request_header_too_large",
        raw=raw_request(f"Authorization: Bearer {VALID}{'x' * 9000}"),
    ),
    Case(
        "200 headers",
        431,
        "request_header_too_large",
        raw=raw_request(*(f"X-H{i}: v" for i in range(200))),
    ),
    Case(
        "request line larger than the limit",
        431,
        "request_header_too_large",
        raw=f"GET /{'u' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    ),
    Case("not HTTP at all", 400, "bad_http_request", raw=b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n"),
    Case(
        "bad chunked encoding",
        400,
        "bad_http_request",
        raw=b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ),
    Case(
        "content-length and chunked",
        400,
        "bad_http_request",
        raw=b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n{}",
    ),
]


def check(case: Case, reply: Reply) -> None:
    where = f"{case.name}: {reply.status} {reply.body[:300]!r}"
    assert reply.status == case.status, where
    assert reply.headers.get("content-type", "").startswith("application/json"), where
    assert len(reply.body) <= MAX_ERROR_BODY_BYTES, where
    error = json.loads(reply.body)["error"]
    assert set(error) >= {"message", "type", "code"}, where
    assert isinstance(error["message"], str), where
    assert error["message"], where
    if case.code is not None:
        assert error["code"] == case.code, where
    if case.status == 401:
        assert reply.headers["www-authenticate"].startswith('Bearer realm="agentsmcp"'), where
    # Header injection never reaches the response; our own request ID is always there.
    assert "set-cookie" not in reply.headers, where
    request_id = reply.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), where


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    logs: Path = tmp_path_factory.mktemp("catalogue")
    with fake_upstreams(logs) as fakes:
        config = server_config(fakes, server={"max_body_bytes": MAX_BODY_BYTES})
        with running_server(config, logs) as process:
            yield process


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 40
    assert len({case.name for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.slow
async def test_every_hostile_input_gets_its_json_4xx(server: ServerProcess) -> None:
    before = server.rss_bytes()
    rss: list[int] = []
    for _ in range(2):
        for case in CATALOGUE:
            check(case, await exchange(server.port, case.request()))
        rss.append(server.rss_bytes())
    # 10 MB bodies come and go, but nothing of them stays: the whole run adds little, and the
    # second pass (caches and allocator warm) adds almost nothing.
    assert rss[1] - before < 24 * MIB, (
        f"RSS {before / MIB:.1f} -> {rss[0] / MIB:.1f} -> {rss[1] / MIB:.1f} MiB"
    )
    assert rss[1] - rss[0] < 8 * MIB, (
        f"RSS {before / MIB:.1f} -> {rss[0] / MIB:.1f} -> {rss[1] / MIB:.1f} MiB"
    )
    status, body = get(f"{server.url}/health/ready")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    logs = server.output()
    assert '"status": 401' in logs or '"status":401' in logs, "expected access log lines"
    for secret in (*SECRETS, *TOKENS):
        assert secret not in logs


# Falling, as a conversation's prompts do; small requests between them allocate above them.
LARGE_BODY_MIB = (10, 9, 8, 7, 6, 5)
SMALL_CASES = [case for case in CATALOGUE if case.body is None or len(case.body) < 65536][:10]


@pytest.mark.slow
async def test_large_bodies_do_not_stay_resident(tmp_path: Path) -> None:
    """glibc's malloc keeps freed large blocks on its heap once its thresholds have grown: without
    app/allocator.py one 10 MB body left about 20 MB resident. A fresh server for a clean heap."""
    with fake_upstreams(tmp_path) as fakes:
        config = server_config(fakes, server={"max_body_bytes": MAX_BODY_BYTES})
        with running_server(config, tmp_path) as server:
            before = server.rss_bytes()
            grown: list[float] = []
            for size in LARGE_BODY_MIB:
                large = Case(f"{size} MiB messages", 400, BAD, body=chat(messages="m" * size * MIB))
                check(large, await exchange(server.port, large.request()))
                for case in SMALL_CASES:
                    check(case, await exchange(server.port, case.request()))
                grown.append(round((server.rss_bytes() - before) / MIB, 1))
    assert max(grown) < 6, f"RSS growth after each large body, MiB: {grown}"
