"""Protocol revisions and the HTTP header rules of each era.

Handshake era (2025-03-26 to 2025-11-25): ``initialize`` negotiates the revision, later requests
carry ``MCP-Protocol-Version`` (assumed 2025-03-26 when missing). Stateless era (2026-07-28):
no handshake; every request names its revision in ``_meta`` and in ``MCP-Protocol-Version``, its
method in ``Mcp-Method`` and, for ``tools/call``, the tool in ``Mcp-Name``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from ._jsonrpc import HEADER_MISMATCH, UNSUPPORTED_VERSION, McpError

HANDSHAKE_VERSIONS: Final = ("2025-03-26", "2025-06-18", "2025-11-25")
STATELESS_VERSIONS: Final = ("2026-07-28",)
SUPPORTED_VERSIONS: Final = (*HANDSHAKE_VERSIONS, *STATELESS_VERSIONS)
LATEST_HANDSHAKE_VERSION: Final = HANDSHAKE_VERSIONS[-1]
# What a handshake-era request without MCP-Protocol-Version speaks (2025-06-18 transports).
DEFAULT_VERSION: Final = "2025-03-26"

VERSION_HEADER: Final = "MCP-Protocol-Version"
SESSION_HEADER: Final = "Mcp-Session-Id"
METHOD_HEADER: Final = "Mcp-Method"
NAME_HEADER: Final = "Mcp-Name"
META_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
SERVER_INFO_META: Final = "io.modelcontextprotocol/serverInfo"
CLIENT_INFO_META: Final = "io.modelcontextprotocol/clientInfo"

# Methods whose target is named in Mcp-Name in the stateless era.
NAMED_METHODS: Final = {"tools/call": "name", "resources/read": "uri", "prompts/get": "name"}


@dataclass(frozen=True, slots=True)
class Era:
    version: str

    @property
    def stateless(self) -> bool:
        return self.version in STATELESS_VERSIONS


def unsupported_version(requested: str) -> McpError:
    shown = requested if len(requested) <= 64 else requested[:64] + "..."
    return McpError(
        UNSUPPORTED_VERSION,
        f"Unsupported protocol version {shown!r}; this server supports"
        f" {', '.join(SUPPORTED_VERSIONS)}.",
        status=400,
        data={"supported": list(SUPPORTED_VERSIONS), "requested": shown},
    )


def _mismatch(message: str) -> McpError:
    return McpError(HEADER_MISMATCH, message, status=400)


def meta_version(params: dict[str, Any] | None) -> str | None:
    meta = (params or {}).get("_meta")
    if isinstance(meta, dict):
        value = meta.get(META_VERSION)
        return value if isinstance(value, str) else ("" if value is not None else None)
    return None


def era_of(
    request: web.Request, method: str, params: dict[str, Any] | None, *, is_request: bool
) -> Era:
    """The revision a message is served under, after the header rules of its era."""
    header = request.headers.get(VERSION_HEADER)
    from_meta = meta_version(params) if is_request else None
    if method == "initialize":
        # The handshake picks its revision from the body; the header is not sent yet.
        return Era(DEFAULT_VERSION)
    if from_meta is not None and from_meta not in SUPPORTED_VERSIONS:
        raise unsupported_version(from_meta)
    stateless = (
        from_meta in STATELESS_VERSIONS
        or header in STATELESS_VERSIONS
        or method == "server/discover"
    )
    if not stateless:
        if header is None:
            return Era(DEFAULT_VERSION)
        if header not in HANDSHAKE_VERSIONS:
            raise unsupported_version(header)
        if from_meta is not None and from_meta != header:
            raise _mismatch(
                f"The {VERSION_HEADER} header ({header}) does not match"
                f" _meta[{META_VERSION!r}] ({from_meta})."
            )
        return Era(header)
    if header is None:
        raise _mismatch(f"The {VERSION_HEADER} header is required.")
    if header not in SUPPORTED_VERSIONS:
        raise unsupported_version(header)
    if is_request and from_meta is None:
        raise _mismatch(f"_meta[{META_VERSION!r}] is required with {VERSION_HEADER}: {header}.")
    if is_request and from_meta != header:
        raise _mismatch(
            f"The {VERSION_HEADER} header ({header}) does not match"
            f" _meta[{META_VERSION!r}] ({from_meta})."
        )
    if header not in STATELESS_VERSIONS:
        raise _mismatch(f"{method} needs a stateless revision ({', '.join(STATELESS_VERSIONS)}).")
    _check_method_headers(request, method, params)
    return Era(header)


def _check_method_headers(request: web.Request, method: str, params: dict[str, Any] | None) -> None:
    sent = request.headers.get(METHOD_HEADER)
    if sent is None:
        raise _mismatch(f"The {METHOD_HEADER} header is required.")
    if sent != method:
        raise _mismatch(f"The {METHOD_HEADER} header does not match the body's method.")
    member = NAMED_METHODS.get(method)
    if member is None:
        return
    name = request.headers.get(NAME_HEADER)
    if name is None:
        raise _mismatch(f"The {NAME_HEADER} header is required for {method}.")
    if decode_header_value(name) != (params or {}).get(member):
        raise _mismatch(f"The {NAME_HEADER} header does not match params.{member}.")


def decode_header_value(value: str) -> str | None:
    """A header value, decoding the ``=?base64?...?=`` form used for non-ASCII values."""
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return value


@dataclass(frozen=True, slots=True)
class Accepts:
    json: bool
    sse: bool


def accepts(request: web.Request) -> Accepts:
    """What the client takes. Without an Accept header: JSON (curl, simple scripts)."""
    header = request.headers.get("Accept")
    if header is None or not header.strip():
        return Accepts(json=True, sse=False)
    types = set()
    for item in header.split(","):
        media, *parameters = item.split(";")
        if all(_quality(parameter) > 0 for parameter in parameters):
            types.add(media.strip().lower())
    anything = "*/*" in types
    return Accepts(
        json=anything or "application/json" in types or "application/*" in types,
        sse="text/event-stream" in types or "text/*" in types,
    )


def _quality(parameter: str) -> float:
    name, _, value = parameter.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        return float(value)
    except ValueError:
        return 1.0
