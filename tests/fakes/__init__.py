"""Fake upstreams: ASGI apps that tests serve on 127.0.0.1 with ``tests.servers``."""
