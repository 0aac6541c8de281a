"""``gateway providers``, ``models``, ``show`` and ``rm`` against a real gateway."""

import json

import pytest

from tests.client.conftest import PROVIDERS, gateway_in_front_of
from tests.fakes.ollama import FakeOllama, installed, normalise


def rows(out: str) -> list[list[str]]:
    """A table's rows, split at runs of spaces (cells hold no double spaces)."""
    return [[cell.strip() for cell in line.split("  ") if cell.strip()]
            for line in out.splitlines()]


def test_providers_shows_each_provider_with_its_status(run, gateway):
    result = run("providers", "--url", gateway)

    table = rows(result.out)
    assert result.code == 0
    assert table[0] == ["ID", "TYPE", "NAME", "ENABLED", "STATUS", "MODEL", "ERROR"]
    assert table[1] == ["ollama", "ollama", "Ollama", "yes", "connected", "llama3.2"]
    assert table[2] == ["openai", "openai", "OpenAI", "no", "disabled", "gpt-4o-mini"]


def test_providers_shows_why_a_provider_is_disconnected(run, ollama_down):
    result = run("providers", "--url", ollama_down)

    line = result.out.splitlines()[1]
    assert "disconnected" in line
    assert line.rstrip().endswith("— start it with `ollama serve`")


def test_models_shows_sizes_for_people(run, gateway):
    result = run("models", "--url", gateway)

    assert result.code == 0
    assert rows(result.out) == [
        ["NAME", "SIZE", "FAMILY", "QUANTIZATION", "MODIFIED"],
        ["llama3.2:latest", "2.0 GB", "llama", "Q4_K_M", "2025-05-04 17:37"],
        ["hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "807.7 MB", "llama", "Q4_K_M",
         "2025-05-04 17:37"],
    ]


def test_models_of_a_provider_that_is_not_ollamas_is_one_line_and_exit_1(run, gateway):
    result = run("models", "openai", "--url", gateway)

    assert result.code == 1
    assert result.out == ""
    assert result.err == ("gateway: Provider 'openai' is not an Ollama provider; models can be "
                          "managed for: ollama\n")


def test_models_of_a_provider_that_is_not_configured_says_so(run, gateway):
    result = run("models", "nope", "--url", gateway)

    assert result.code == 1
    assert result.err == ("gateway: Provider 'nope' is not configured; models can be managed "
                          "for: ollama\n")


def test_json_listings_print_the_gateways_reply_and_nothing_else(run, gateway):
    providers = json.loads(run("providers", "--json", "--url", gateway).out)
    models = json.loads(run("models", "ollama", "--json", "--url", gateway).out)
    show = json.loads(run("show", "llama3.2", "--json", "--url", gateway).out)

    assert [p["id"] for p in providers["providers"]] == ["ollama", "openai"]
    assert models["total"] == 2
    assert models["models"][0]["size"] == 2_019_393_189
    assert show["details"]["parameter_size"] == "3.2B"
    assert show["model_info"]["llama.context_length"] == 131072


def test_show_prints_the_key_details(run, gateway):
    result = run("show", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "--url", gateway)

    assert result.code == 0
    assert rows(result.out) == [
        ["name", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"],
        ["family", "llama"],
        ["parameter size", "1.24B"],
        ["quantization", "Q4_K_M"],
        ["format", "gguf"],
        ["context length", "131072"],
        ["capabilities", "completion, tools"],
        ["license", "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT"],
        ["modified", "2025-05-04 17:37"],
    ]


def test_show_of_a_missing_model_exits_1_with_the_gateways_detail(run, gateway):
    result = run("show", "llama9", "--url", gateway)

    assert result.code == 1
    assert result.err == ("gateway: Ollama: model 'llama9:latest' not found — pull it with "
                          "POST /api/providers/ollama/pull\n")


def test_rm_deletes_the_model(run, gateway, ollama):
    result = run("rm", "llama3.2", "--url", gateway)

    assert result.code == 0
    assert result.out == "Model 'llama3.2' deleted\n"
    assert normalise("llama3.2") not in ollama.models


def test_rm_of_a_missing_model_exits_1(run, gateway):
    result = run("rm", "llama9", "--url", gateway)

    assert result.code == 1
    assert result.err == ("gateway: Ollama has no model 'llama9'; "
                          "GET /api/providers/ollama/models lists the installed ones\n")


def test_names_are_shown_as_they_are_not_as_markup(run, write_config):
    odd = FakeOllama(models=[installed("[bold]odd[/bold]:latest")])
    with gateway_in_front_of(write_config(PROVIDERS), ollama=odd) as url:
        result = run("models", "--url", url)

    assert rows(result.out)[1][0] == "[bold]odd[/bold]:latest"


@pytest.mark.parametrize("command", ["show", "rm"])
def test_show_or_rm_without_a_model_name_is_a_bad_command_line(run, gateway, command):
    result = run(command, " ", "--url", gateway)

    assert (result.code, result.err) == (2, "gateway: MODEL is required, e.g. llama3.2:1b\n")


def test_a_name_of_dots_reaches_the_model_route_not_the_one_above(run, gateway):
    result = run("show", "../llama9", "--url", gateway)

    assert result.code == 1
    assert result.err.startswith("gateway: Ollama: model '../llama9:latest' not found")
