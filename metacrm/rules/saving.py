"""Default-value expressions, layout conditions and validation rules as
save-pipeline steps (filled in by the validation work)."""

SAVE_STEPS: list = []


def check_definitions(definitions, model) -> list[tuple[str, str, str, str]]:
    return []
