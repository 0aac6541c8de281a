"""docs/plugins.md stays true to the code: one section per hook and none for a
hook that is gone, every public name listed, and its example plugins and
their tests really pass."""

import re
import subprocess
import sys
from pathlib import Path

import pluggy

import gateway
from gateway import hookspecs

ROOT = Path(__file__).parents[1]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()

HEADINGS = re.findall(r"^#+ (.*)$", GUIDE, re.MULTILINE)
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```$", GUIDE, re.MULTILINE | re.DOTALL)
# A block whose first line is "# path/to/file.py" is a whole file of the guide's examples.
FILE_BLOCKS = {m[1]: block for block in PYTHON_BLOCKS
               if (m := re.match(r"# (\S+\.py)\n", block))}


def hookspec_arguments() -> dict[str, str]:
    """Each hook the gateway declares, with its arguments as a heading shows them."""
    pm = pluggy.PluginManager("gateway")
    pm.add_hookspecs(hookspecs)
    return {name: ", ".join(caller.spec.argnames) for name, caller in vars(pm.hook).items()}


def documented_hooks() -> dict[str, str]:
    """Each ``gateway_...`` a heading names, with the arguments it shows."""
    found = {}
    for heading in HEADINGS:
        for name, arguments in re.findall(r"(gateway_\w+)(?:\(([^)]*)\))?", heading):
            found[name] = arguments
    return found


def test_every_hook_has_a_heading_in_the_guide():
    missing = hookspec_arguments().keys() - documented_hooks().keys()

    assert not missing, f"docs/plugins.md has no heading for {sorted(missing)}"


def test_the_guide_has_no_heading_for_a_hook_that_does_not_exist():
    unknown = documented_hooks().keys() - hookspec_arguments().keys()

    assert not unknown, f"docs/plugins.md documents hooks that do not exist: {sorted(unknown)}"


def test_each_hook_heading_shows_the_hooks_arguments():
    documented = documented_hooks()
    wrong = {name: f"({documented[name]}) in the guide, ({arguments}) in hookspecs.py"
             for name, arguments in hookspec_arguments().items()
             if name in documented and documented[name] != arguments}

    assert not wrong


def test_every_public_name_is_in_the_guide():
    missing = [name for name in gateway.__all__ if f"`{name}`" not in GUIDE]

    assert not missing


def test_every_python_example_in_the_guide_compiles():
    for number, block in enumerate(PYTHON_BLOCKS):
        compile(block, f"docs/plugins.md python block {number}", "exec")


def test_the_guides_example_plugins_and_their_tests_pass(tmp_path):
    for relative, source in FILE_BLOCKS.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)

    # Run as a separate session, with the project's fixtures loaded as a plugin
    # the way tests/conftest.py would be for a test file under tests/.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )

    assert "tests/test_my_plugins.py" in FILE_BLOCKS
    assert result.returncode == 0, result.stdout + result.stderr
