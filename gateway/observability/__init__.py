"""What the gateway tells its operators: metrics, access logs, request ids
and provider health.

``context`` follows one HTTP request; ``middleware`` opens and closes that
record around every request and turns it into ``metrics`` and a ``logs``
line; ``health`` keeps each provider's status current.
"""
