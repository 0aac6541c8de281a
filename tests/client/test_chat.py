"""``gateway chat``: replies streamed from a real gateway in front of the fake Ollama."""

import io

from tests.client.conftest import PROVIDERS, gateway_in_front_of
from tests.fakes.ollama import FakeOllama


def chats_sent_upstream(fake: FakeOllama) -> list[dict]:
    return [body for _, path, body in fake.requests if path == "/v1/chat/completions"]


def test_chat_streams_the_reply_and_prints_the_reported_usage(run, gateway, ollama):
    result = run("chat", "Hello there", "--system", "Be brief", "--url", gateway)

    assert result.code == 0
    assert result.out == "Hello! I am a fake Ollama model.\n"
    assert result.err == "ollama/llama3.2: tokens 4 in, 7 out, 11 total\n"
    sent = chats_sent_upstream(ollama)[0]
    assert sent["stream"] is True
    assert sent["messages"] == [{"role": "system", "content": "Be brief"},
                                {"role": "user", "content": "Hello there"}]


def test_usage_the_gateway_estimated_is_marked(run, write_config):
    quiet = FakeOllama(step_delay=0, report_usage=False)
    with gateway_in_front_of(write_config(PROVIDERS), ollama=quiet) as url:
        result = run("chat", "Hello there", "--url", url)

    assert result.code == 0
    assert result.err.endswith(" total (estimated)\n")


def test_chat_with_a_missing_model_exits_1_with_the_gateways_detail(run, gateway):
    result = run("chat", "Hello", "--model", "llama9", "--url", gateway)

    assert result.code == 1
    assert result.out == ""
    assert result.err == ("gateway: Ollama: model 'llama9' not found — pull it with "
                          "POST /api/providers/ollama/pull\n")


def test_chat_without_a_prompt_converses_and_keeps_the_history(run, gateway, ollama, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n\nWhat did I say?\nexit\nNot sent\n"))

    result = run("chat", "--url", gateway)

    assert result.code == 0
    assert result.out.count("Hello! I am a fake Ollama model.") == 2
    sent = chats_sent_upstream(ollama)
    assert [m["content"] for m in sent[1]["messages"]] == [
        "Hello", "Hello! I am a fake Ollama model.", "What did I say?"]
    assert len(sent) == 2


def test_a_conversation_ends_at_end_of_input_and_goes_on_after_a_failed_turn(
        run, gateway, ollama, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\nAgain\n"))
    ollama.models.clear()

    result = run("chat", "--url", gateway)

    assert result.code == 0
    assert result.err.count("model 'llama3.2' not found") == 2
    # A failed turn is not sent again as history.
    assert [len(body["messages"]) for body in chats_sent_upstream(ollama)] == [1, 1]


def test_a_reply_broken_off_midway_exits_1_with_the_gateways_detail(run, write_config):
    slow = FakeOllama(step_delay=5)
    config = write_config(PROVIDERS.replace('base_url = "{ollama}/v1"',
                                            'base_url = "{ollama}/v1"\ntimeout = 0.3'))
    with gateway_in_front_of(config, ollama=slow) as url:
        result = run("chat", "Hello", "--url", url)

    assert result.code == 1
    assert result.out == "Hello!\n"
    assert result.err.startswith("gateway: Ollama at http://127.0.0.1:")
    assert "did not answer within 0.3 s" in result.err
