"""Fake upstream servers for the tests that need real HTTP (see ``tests/servers.py``)."""


async def read_body(receive) -> bytes:
    """The whole body of an ASGI HTTP request."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
