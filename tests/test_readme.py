"""The README opens with the two commands, and CI runs the second verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_opens_with_the_demo_and_the_test_command():
    demo, tests = _readme_commands()[:2]
    assert "metacrm demo" in demo and "pip install -e ." in demo
    assert "pytest" in tests and ".[test]" in tests and "lint-imports" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _readme_commands()[1] in ci.splitlines()
