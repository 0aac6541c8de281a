"""Fake upstream servers for the tests that need real HTTP (see ``tests/servers.py``)."""
