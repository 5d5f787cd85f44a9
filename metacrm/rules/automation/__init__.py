"""Automation rules: WHEN <trigger> [IF <condition>] THEN <actions> (filled
in by the automation work)."""

SAVE_STEPS: list = []
JOBS: list = []


def check_definitions(definitions, model) -> list[tuple[str, str, str, str]]:
    return []
