"""``gateway doctor`` on a healthy set-up and on broken ones."""

import json

from tests.client.conftest import AUTH, PROVIDERS, USER_KEY, closed_url, gateway_in_front_of
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI


def test_doctor_passes_every_check_of_a_healthy_set_up(run, gateway):
    result = run("doctor", "--url", gateway)

    lines = result.out.splitlines()
    assert result.code == 0
    assert lines[:2] == [f"pass  gateway: answers at {gateway}", "pass  providers enabled: ollama"]
    assert lines[2].startswith("pass  ollama: reachable: connected to http://127.0.0.1:")
    assert lines[3:] == [
        "pass  ollama: models listed: 2 models (llama3.2:latest, "
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M)",
        "pass  ollama: chat: llama3.2 answered 'Hello! I am a fake Ollama model.'",
    ]


def test_doctor_with_pull_pulls_the_model_and_chats_with_it(run, gateway, ollama):
    result = run("doctor", "--pull", "llama3.2:1b", "--url", gateway)

    lines = result.out.splitlines()
    assert result.code == 0
    assert lines[-2] == "pass  ollama: pull llama3.2:1b: Model 'llama3.2:1b' pulled successfully"
    assert lines[-1].startswith("pass  ollama: chat: llama3.2:1b answered ")


def test_doctor_fails_with_the_fix_when_ollama_is_down(run, ollama_down):
    result = run("doctor", "--url", ollama_down)

    lines = result.out.splitlines()
    assert result.code == 1
    assert lines[2].startswith("fail  ollama: reachable: Ollama is not running at http://127.0.0.1:")
    assert lines[2].endswith(" — start it with `ollama serve`")
    assert lines[3:] == ["skip  ollama: models listed: needs ollama: reachable",
                         "skip  ollama: chat: needs ollama: reachable"]


def test_doctor_fails_with_the_fix_when_the_gateway_is_down(run):
    url = closed_url()

    result = run("doctor", "--url", url)

    assert result.code == 1
    assert result.out == (f"fail  gateway: cannot reach the gateway at {url} — is it running? "
                          "start it with `make run`\n")


def test_doctor_fails_a_pull_with_ollamas_message_and_skips_the_chat(run, gateway):
    result = run("doctor", "--pull", "llama9", "--url", gateway)

    lines = result.out.splitlines()
    assert result.code == 1
    assert lines[-2].startswith("fail  ollama: pull llama9: Pulling 'llama9' failed: Ollama "
                                "reported: pull model manifest: file does not exist.")
    assert lines[-1] == "skip  ollama: chat: needs ollama: pull llama9"


def test_doctor_json_holds_every_check(run, ollama_down):
    result = run("doctor", "--json", "--url", ollama_down)

    report = json.loads(result.out)
    assert result.code == 1
    assert report["ok"] is False
    assert [(c["name"], c["result"]) for c in report["checks"]] == [
        ("gateway", "pass"), ("providers enabled", "pass"), ("ollama: reachable", "fail"),
        ("ollama: models listed", "skip"), ("ollama: chat", "skip")]
    assert report["checks"][2]["detail"].endswith("start it with `ollama serve`")


def test_doctor_with_a_user_key_reads_the_providers_last_health_check(
        run, ollama, write_config, monkeypatch):
    monkeypatch.setenv("GATEWAY_API_KEY", USER_KEY)
    with gateway_in_front_of(write_config(AUTH + PROVIDERS), ollama=ollama) as url:
        result = run("doctor", "--url", url)

    assert result.code == 0
    assert all(line.startswith("pass  ") for line in result.out.splitlines())


def test_doctor_without_a_key_says_to_set_one(run, ollama, write_config):
    with gateway_in_front_of(write_config(AUTH + PROVIDERS), ollama=ollama) as url:
        result = run("doctor", "--url", url)

    assert result.code == 1
    assert result.out.splitlines()[1].startswith("fail  providers enabled: This endpoint needs "
                                                 "an API key")
    assert result.out.rstrip().endswith("Set GATEWAY_API_KEY to one of the gateway's keys.")


def test_doctor_checks_a_provider_without_model_routes_through_v1(run, ollama, write_config):
    config = write_config(PROVIDERS.replace("enabled = false", "enabled = true").replace(
        'api_key = "sk-test-not-a-real-key"',
        'api_key = "sk-test-not-a-real-key"\nbase_url = "{openai}/v1"\nmodel = "fake-small"'))
    with gateway_in_front_of(config, ollama=ollama, openai=FakeOpenAI()) as url:
        result = run("doctor", "--pull", "llama3.2:1b", "--url", url)

    lines = result.out.splitlines()
    assert result.code == 0
    assert lines[-3:] == [
        "pass  openai: models listed: 2 models (fake-small, fake-large)",
        "skip  openai: pull llama3.2:1b: openai does not manage its models through the gateway",
        "pass  openai: chat: fake-small answered 'Hello world'",
    ]
    assert lines[-6] == "pass  ollama: pull llama3.2:1b: Model 'llama3.2:1b' pulled successfully"


def test_doctor_fails_a_chat_that_only_a_fallback_answered(run, write_config):
    config = write_config(PROVIDERS.replace("enabled = false", "enabled = true").replace(
        'base_url = "{ollama}/v1"', 'base_url = "{ollama}/v1"\ntimeout = 0.3\n'
                                    'fallbacks = ["openai/fake-small"]').replace(
        'api_key = "sk-test-not-a-real-key"',
        'api_key = "sk-test-not-a-real-key"\nbase_url = "{openai}/v1"\nmodel = "fake-small"'))
    stalled = FakeOllama(stalls={"/v1/chat/completions": 5})
    with gateway_in_front_of(config, ollama=stalled, openai=FakeOpenAI()) as url:
        result = run("doctor", "--url", url)

    lines = result.out.splitlines()
    assert result.code == 1
    assert ("fail  ollama: chat: ollama failed and its fallback openai answered instead; "
            "`gateway providers` shows what is wrong with ollama") in lines
    assert "pass  openai: chat: fake-small answered 'Hello world'" in lines
