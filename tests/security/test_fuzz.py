"""Property-based fuzzing with schemathesis against the gateway's own OpenAPI
schema, served for real on 127.0.0.1 in front of a fake upstream: whatever
the schema allows (and much it does not), the gateway answers without a 5xx
and as its schema says."""

import hashlib
from contextlib import ExitStack

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
# Data the schema allows can still name a provider or model that does not
# exist, which is a 400 or 404 by the gateway's contract.
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.app import create_app
from tests.security.conftest import ADMIN_KEY, bearer
from tests.fakes.ollama import FakeOllama
from tests.security.fakes import FakeUpstream
from tests.servers import serve_in_thread

PROVIDERS = ["openai", "ollama"]


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    config = tmp_path_factory.mktemp("fuzz") / "config.toml"
    with ExitStack() as stack:
        upstream = stack.enter_context(serve_in_thread(FakeUpstream("reply")))
        ollama = stack.enter_context(serve_in_thread(FakeOllama(step_delay=0)))
        config.write_text(
            f'[auth]\nadmin_key_sha256 = ["{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}"]\n'
            f'[providers.openai]\nbase_url = "{upstream}/v1"\napi_key = "sk-fake"\n'
            f'[providers.ollama]\nenabled = true\nbase_url = "{ollama}/v1"\n')
        yield stack.enter_context(serve_in_thread(create_app(config)))


def fuzzing_schema(url: str) -> dict:
    """The gateway's own schema, told two things it cannot say itself.

    Bodies refuse unknown fields (msgspec's forbid_unknown_fields), which
    Litestar's schema of the plugins' bodies leaves out: without
    ``additionalProperties: false`` nearly every generated body would stop
    at validation. And the provider of ``/api/chat`` is one of the configured
    ids, so that generated chats reach the (fake) upstream; the negative
    cases still try every other string.
    """
    schema = httpx.get(f"{url}/docs/openapi.json").json()
    for component in schema["components"]["schemas"].values():
        if component.get("type") == "object":
            component.setdefault("additionalProperties", False)
    chat = schema["paths"]["/api/chat"]["post"]["requestBody"]["content"]["application/json"]
    chat["schema"]["properties"]["provider"] = {"enum": PROVIDERS}
    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_gateway_answers_as_its_schema_says_and_never_with_a_5xx(gateway_url, mode):
    schema = schemathesis.openapi.from_dict(fuzzing_schema(gateway_url))
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not operation.body:
            # Nothing to get wrong: any string is a valid path parameter.
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def answers_as_promised(case):
            case.call_and_validate(base_url=gateway_url, headers=bearer(ADMIN_KEY), timeout=10,
                                   excluded_checks=[positive_data_acceptance])

        answers_as_promised()
