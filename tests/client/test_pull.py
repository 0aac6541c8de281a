"""``gateway pull`` following the fake Ollama's progress through a real gateway."""

import re
import signal
import subprocess
import sys
import time

from tests.fakes.ollama import normalise


def test_pull_prints_each_layers_progress_as_it_advances_then_success(run, gateway, ollama):
    result = run("pull", "llama3.2:1b", "--url", gateway)

    lines = result.out.splitlines()
    assert result.code == 0
    assert lines[0] == "pulling manifest"
    big = [line for line in lines if "of 1.3 GB" in line]
    assert [line.split()[-1] for line in big] == ["0%", "33%", "66%", "100%"]
    assert big[1].split("  ")[1] == "440.4 MB of 1.3 GB"
    assert big[-1].split("  ")[1] == "1.3 GB of 1.3 GB"
    # The three small layers: each seen starting and done.
    assert sum(line.endswith(" 100%") for line in lines) == 4
    assert lines[-3:] == ["verifying sha256 digest", "writing manifest",
                          "Model 'llama3.2:1b' pulled successfully"]
    assert normalise("llama3.2:1b") in ollama.models


def test_pull_on_a_terminal_draws_a_bar_per_layer(run, gateway, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "120")

    result = run("pull", "llama3.2:1b", "--url", gateway)

    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.out)
    assert result.code == 0
    bars = {line.split()[1]: line for line in screen.splitlines() if "━" in line}
    assert len(bars) == 4
    assert re.search(r"100% 1\.3/1\.3 GB", bars[next(iter(bars))])
    assert "verifying sha256 digest" in screen
    assert screen.rstrip().endswith("Model 'llama3.2:1b' pulled successfully")


def test_pull_of_an_unknown_model_exits_1_with_ollamas_message(run, gateway):
    result = run("pull", "llama9", "--url", gateway)

    assert result.code == 1
    assert result.out == "pulling manifest\n"
    assert result.err == (
        "gateway: Pulling 'llama9' failed: Ollama reported: pull model manifest: file does not "
        "exist. Check the name: the registry has no model 'llama9'\n")


def test_pull_from_a_provider_that_is_not_ollamas_exits_1_with_the_gateways_detail(run, gateway):
    result = run("pull", "gpt-4o", "--provider", "openai", "--url", gateway)

    assert result.code == 1
    assert result.err == ("gateway: Provider 'openai' is not an Ollama provider; models can be "
                          "managed for: ollama\n")


# The command as a terminal starts it, with Ctrl-C's SIGINT raising
# KeyboardInterrupt: a suite run in the background (`make test &`) inherits
# SIGINT ignored, as shells start background jobs, and passes that on.
AS_IN_A_TERMINAL = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
                    "signal.default_int_handler); sys.argv[0] = 'gateway'; "
                    "runpy.run_module('gateway.cli', run_name='__main__')")


def test_ctrl_c_stops_the_pull_upstream_and_exits_130(gateway, ollama):
    command = subprocess.Popen(
        [sys.executable, "-c", AS_IN_A_TERMINAL, "pull", "tinyllama", "--url", gateway],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert command.stdout.readline() == "pulling manifest\n"
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=10)
    finally:
        command.kill()

    assert command.returncode == 130
    assert err == "gateway: pull of 'tinyllama' stopped; pull again to resume it\n"
    deadline = time.monotonic() + 5
    while "tinyllama" not in ollama.abandoned_pulls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ollama.abandoned_pulls == ["tinyllama"]
