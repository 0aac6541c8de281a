"""Provider health kept current in the background, so ``/api/providers``
shows a recent ``status`` and ``last_checked`` without checking per request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from ..providers import Provider

log = logging.getLogger("gateway.health")


async def keep_checking(provider: Provider, interval: float) -> None:
    """Check ``provider`` now, then every ``interval`` seconds (never again if 0).

    Each provider has its own loop, so one upstream that hangs until its
    timeout does not hold up the others' checks.
    """
    while True:
        try:
            await provider.check()
        except Exception:
            # check() records every gateway error itself; anything else is a
            # bug in a provider, which must not end the loop silently.
            log.exception("health check of provider %s failed", provider.id)
        if interval <= 0:
            return
        await asyncio.sleep(interval)


@asynccontextmanager
async def health_checks(providers: Iterable[Provider], interval: float) -> AsyncIterator[None]:
    """Run :func:`keep_checking` for each provider while the block runs."""
    tasks = [asyncio.create_task(keep_checking(p, interval)) for p in providers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        # Wait, so no check is still using a client that is about to close.
        await asyncio.gather(*tasks, return_exceptions=True)
