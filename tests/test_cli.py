"""The ``gateway`` command as a real process."""

import subprocess
import sys

import httpx

from tests.servers import gateway_process


def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


def test_serve_answers_health(write_config):
    with gateway_process(write_config()) as url:
        reply = httpx.get(f"{url}/health")

    assert reply.json() == {"status": "ok"}


def test_serve_with_two_workers_serves_requests(write_config):
    with gateway_process(write_config(), "--workers", "2") as url:
        replies = [httpx.get(f"{url}/api/providers") for _ in range(4)]

    assert {r.status_code for r in replies} == {200}


def test_serve_with_a_bad_config_prints_one_line_and_exits_2(write_config):
    path = write_config("[server]\nprot = 1\n")

    result = run_cli("serve", "--config", str(path))

    assert result.returncode == 2
    assert result.stderr == f"gateway: config error: {path}: server.prot: unknown key\n"


def test_serve_reads_the_file_named_by_gateway_config(write_config, tmp_path):
    import os

    path = write_config('[providers.claude]\ntype = "nope"\n', name="other.toml")

    result = run_cli("serve", cwd=tmp_path, env={**os.environ, "GATEWAY_CONFIG": str(path)})

    assert result.returncode == 2
    assert str(path) in result.stderr


def test_plugins_lists_the_builtins(write_config):
    result = run_cli("plugins", "--config", str(write_config("[plugins]\nopenai = false\n")))

    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert any(line.split()[0] == "ollama" and "enabled" in line for line in lines)
    assert any(line.split()[0] == "openai" and "disabled" in line for line in lines)


def test_plugins_shows_a_broken_plugin_in_its_row_and_nothing_else(write_config, tmp_path):
    (tmp_path / "myplugins").mkdir()
    (tmp_path / "myplugins" / "broken.py").write_text("import a_module_that_does_not_exist\n")
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n')

    result = run_cli("plugins", "--config", str(path))

    assert result.returncode == 0
    assert "    ModuleNotFoundError: No module named 'a_module_that_does_not_exist'" in (
        result.stdout.splitlines())
    assert result.stderr == ""
