"""OpenAICompatibleProvider against a real socket, where reads split as they may."""

import socket
import time

import msgspec

from tests.conftest import gateway_client
from tests.servers import raw_upstream


async def test_sse_lines_split_across_reads_with_crlf_endings_arrive_whole(write_config):
    pieces = [
        b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\r\n\r\n',
        b'data: {"choices":[{"index":0,"del',
        b'ta":{"content":"lo"}}]}\r',
        b"\n\r\n: a comment\r\nevent: ping\r\n\r\n",
        b"data: [DONE]",
    ]

    def reply(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            time.sleep(0.02)
        conn.sendall(b"0\r\n\r\n")

    with raw_upstream(reply) as url:
        path = write_config(f'[providers.openai]\nbase_url = "{url}"\napi_key = "sk-test"\n')
        async with gateway_client(path) as client:
            response = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                          "stream": True})

    events = response.text.strip().split("\n\n")
    assert events[:2] == ['data: {"content":"Hel"}', 'data: {"content":"lo"}']
    assert msgspec.json.decode(events[2].split("data: ", 1)[1])["response"] == "Hello"
    assert len(events) == 3
