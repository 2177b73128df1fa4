"""A client that stops reading a stream holds the upstream back: nothing between the provider's
socket and ours buffers without bound (bench/FINDINGS.md, section 13)."""

from __future__ import annotations

import asyncio
import json
import socket

from tests.app.conftest import AgentClientFactory
from tests.fakes import Behavior, FakeServer

# 20 MB of text: far more than the loopback sockets' kernel buffers on both hops can hold.
CHUNK_TEXT = "x" * 4096
CHUNKS = 5000
# The fake sends the whole answer in well under a second when nothing holds it back.
STALL_SECONDS = 3.0
CLIENT_RECEIVE_BUFFER = 4096


async def stalled_stream(host: str, port: int, auth: dict[str, str]) -> asyncio.StreamWriter:
    """Send a streaming chat completion over a socket with a small receive buffer, read nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RECEIVE_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    _, writer = await asyncio.open_connection(sock=sock)
    body = json.dumps(
        {"model": "coding", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    return writer


async def test_a_client_that_stops_reading_holds_the_upstream_back(
    make_agent_client: AgentClientFactory, auth: dict[str, str], fake: FakeServer
) -> None:
    fake.openai.script(Behavior(chunks=(CHUNK_TEXT,) * CHUNKS))
    client = await make_agent_client()
    host, port = client.server.host, client.server.port
    assert isinstance(port, int)
    writer = await stalled_stream(host, port, auth)
    await asyncio.sleep(STALL_SECONDS)
    # Without backpressure the server would have read the whole answer by now.
    assert fake.openai.inflight == 1
    writer.transport.abort()
    disconnect = await fake.openai.wait_disconnect(within=10)
    # About half was sent here: the kernel buffers of both loopback hops hold most of it.
    assert disconnect.chunks_sent < CHUNKS
