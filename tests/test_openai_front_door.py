"""The /v1 front door as applications use it: the official ``openai`` SDK
against the gateway served for real, in front of fake OpenAI-compatible
upstreams that stream with real delays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from gateway.app import create_app
from tests.fakes.openai import FakeOpenAI
from tests.servers import free_port, serve_in_thread

UPSTREAM_KEY = "sk-upstream-not-a-real-key-42"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def provider(provider_id: str, base_url: str, *lines: str) -> str:
    """A ``[providers.<id>]`` table of type openai."""
    return "\n".join([f"[providers.{provider_id}]", 'type = "openai"',
                      f'base_url = "{base_url}"', *lines, ""])


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@contextmanager
def sdk_for(config: Path) -> Iterator[OpenAI]:
    with serve_in_thread(create_app(config)) as url:
        with OpenAI(base_url=f"{url}/v1", api_key="sk-client-side", max_retries=0,
                    timeout=10) as client:
            yield client


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
def fake_url(fake) -> Iterator[str]:
    with serve_in_thread(fake) as url:
        yield url


@pytest.fixture
def sdk(write_config, fake_url) -> Iterator[OpenAI]:
    path = write_config(provider("fake", f"{fake_url}/v1", f'api_key = "{UPSTREAM_KEY}"'))
    with sdk_for(path) as client:
        yield client


def test_sdk_completion_reaches_the_provider_named_in_the_model(sdk, fake):
    raw = sdk.chat.completions.with_raw_response.create(
        model="fake/fake-small", messages=MESSAGES, max_tokens=20, top_p=0.5, seed=7)
    reply = raw.parse()

    assert reply.choices[0].message.content == "Hello world"
    assert reply.model == "fake/fake-small"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens,
            reply.usage.total_tokens) == (5, 3, 8)
    assert raw.headers["x-gateway-provider"] == "fake"
    sent = fake.chats[-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.body == {"model": "fake-small", "messages": MESSAGES, "stream": False,
                         "max_tokens": 20, "top_p": 0.5, "seed": 7}


def test_sdk_stream_delivers_the_deltas_the_upstream_sent(sdk, fake):
    chunks = list(sdk.chat.completions.create(model="fake/fake-small", messages=MESSAGES,
                                              stream=True))

    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert deltas == list(fake.pieces)
    assert {c.model for c in chunks} == {"fake/fake-small"}
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_sdk_stream_with_include_usage_ends_with_the_usage(sdk):
    chunks = list(sdk.chat.completions.create(
        model="fake/fake-small", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True}))

    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 8
    assert all(c.usage is None for c in chunks[:-1])


def test_first_chunk_reaches_the_client_before_the_upstream_sends_the_last(sdk, fake):
    fake.hold = True
    stream = sdk.chat.completions.create(model="fake/fake-small", messages=MESSAGES, stream=True)
    chunks = iter(stream)

    first = next(chunks)
    upstream_had_finished = fake.sent_last.is_set()
    fake.release.set()
    rest = list(chunks)

    assert first.choices[0].delta.content == "Hel"
    assert not upstream_had_finished
    assert "".join(c.choices[0].delta.content or "" for c in rest) == "lo world"


def test_client_hanging_up_mid_stream_closes_the_upstream_request(sdk, fake):
    fake.hold = True
    stream = sdk.chat.completions.create(model="fake/fake-small", messages=MESSAGES, stream=True)
    next(iter(stream))

    stream.close()

    assert fake.disconnected.wait(5)
    assert not fake.sent_last.is_set()


def test_upstream_failing_mid_stream_ends_with_an_error_event(sdk, fake):
    fake.break_after = 1
    received = []

    with pytest.raises(openai.APIError) as info:
        for chunk in sdk.chat.completions.create(model="fake/fake-small", messages=MESSAGES,
                                                 stream=True):
            received.append(chunk.choices[0].delta.content)

    assert received == ["Hel"]
    assert "cannot read" in info.value.message
    assert info.value.body["code"] == "bad_upstream_reply"


def test_models_list_has_prefixed_ids_and_leaves_out_a_provider_that_is_down(write_config, fake_url):
    path = write_config(provider("fake", f"{fake_url}/v1") + provider("down", unreachable()))
    with sdk_for(path) as sdk:
        models = sdk.models.list()

    assert [m.id for m in models] == ["fake/fake-small", "fake/fake-large"]
    assert {m.owned_by for m in models} == {"fake"}


def test_models_retrieve_finds_one_model_and_404s_on_others(sdk):
    assert sdk.models.retrieve("fake/fake-large").id == "fake/fake-large"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("fake/gpt-5")


def test_unknown_provider_raises_not_found(sdk, fake):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="claude/opus", messages=MESSAGES)

    assert info.value.code == "model_not_found"
    assert "'claude'" in info.value.message
    assert fake.chats == []


def test_unknown_model_upstream_raises_not_found(sdk, fake):
    fake.fail(404, "The model `gpt-9` does not exist")

    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="fake/gpt-9", messages=MESSAGES)

    assert "The model `gpt-9` does not exist" in info.value.message


def test_invalid_parameter_raises_bad_request_naming_it(sdk, fake):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="fake/fake-small", messages=MESSAGES, temperature=7)

    assert info.value.param == "temperature"
    assert fake.chats == []


def test_upstream_rate_limit_raises_rate_limit_error_with_retry_after(sdk, fake):
    fake.fail(429, "slow down", {"retry-after": "7"})

    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="fake/fake-small", messages=MESSAGES)

    assert info.value.response.headers["retry-after"] == "7"


def test_unreachable_provider_raises_status_503(write_config):
    path = write_config(provider("down", unreachable()))
    with sdk_for(path) as sdk, pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model="down/any", messages=MESSAGES, stream=True)

    assert info.value.status_code == 503
    assert info.value.body["code"] == "upstream_unreachable"


def test_slow_provider_raises_status_504(write_config, fake, fake_url):
    fake.stall = 0.5
    path = write_config(provider("slow", f"{fake_url}/v1", "timeout = 0.1"))
    with sdk_for(path) as sdk, pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model="slow/fake-small", messages=MESSAGES)

    assert info.value.status_code == 504


def test_fallback_answers_when_the_first_provider_is_down(write_config, fake, fake_url):
    path = write_config(provider("primary", unreachable(), 'fallbacks = ["backup/fake-large"]')
                        + provider("backup", f"{fake_url}/v1"))
    with sdk_for(path) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(
            model="primary/big", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)

    assert text == "Hello world"
    assert raw.headers["x-gateway-provider"] == "backup"
    assert raw.headers["x-gateway-model"] == "fake-large"
    assert fake.chats[-1].body["model"] == "fake-large"


def test_no_fallback_once_the_stream_has_begun(write_config, fake, fake_url):
    backup = FakeOpenAI(pieces=("Other",))
    fake.break_after = 1
    with serve_in_thread(backup) as backup_url:
        path = write_config(
            provider("primary", f"{fake_url}/v1", 'fallbacks = ["backup/fake-small"]')
            + provider("backup", f"{backup_url}/v1"))
        received = []
        with sdk_for(path) as sdk, pytest.raises(openai.APIError):
            for chunk in sdk.chat.completions.create(model="primary/fake-small",
                                                     messages=MESSAGES, stream=True):
                received.append(chunk.choices[0].delta.content)

    assert received == ["Hel"]
    assert backup.chats == []
