"""SIGTERM on a real ``gateway serve`` process: requests in flight get
``[server] shutdown_grace`` seconds to finish, then the app shuts down (which
closes every provider's client)."""

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.security.fakes import FakeUpstream, provider_config
from tests.servers import gateway_process_handle, serve_in_thread

CHAT = {"message": "Hi", "provider": "openai"}


def post_during_sigterm(write_config, fake, grace):
    """POST a chat, send SIGTERM once the upstream has it; return what happened."""
    with serve_in_thread(fake) as upstream_url, ThreadPoolExecutor(1) as pool:
        path = write_config(f"[server]\nshutdown_grace = {grace}\n" + provider_config(upstream_url))
        with gateway_process_handle(path) as (process, url, output):
            reply = pool.submit(httpx.post, f"{url}/api/chat", json=CHAT, timeout=30)
            assert fake.received.wait(10)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            exit_code = process.wait(30)
            took = time.monotonic() - signalled
            log = output()
    return reply.result(10), exit_code, took, log


def test_sigterm_lets_a_request_in_flight_finish_then_shuts_down(write_config):
    fake = FakeUpstream("reply", delay=1.0)

    reply, exit_code, took, log = post_during_sigterm(write_config, fake, grace=10)

    assert reply.status_code == 200
    assert reply.json()["response"] == "done"
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert exit_code == -signal.SIGTERM
    assert took < 10
    assert log.index('POST /api/chat 200') < log.index("Application shutdown complete")


def test_sigterm_cuts_requests_still_running_when_the_grace_period_ends(write_config):
    fake = FakeUpstream("hang")

    reply, exit_code, took, log = post_during_sigterm(write_config, fake, grace=0.5)

    assert reply.status_code == 503
    assert reply.json() == {"status_code": 503, "error": "shutting_down",
                            "detail": "The gateway is shutting down; send the request again"}
    assert exit_code == -signal.SIGTERM
    assert took < 3
    assert "timeout graceful shutdown exceeded" in log
    assert "Traceback" not in log
    assert "Application shutdown complete" in log
    assert fake.hung_up.is_set()
