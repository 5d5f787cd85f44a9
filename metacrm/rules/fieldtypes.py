"""Formula and roll-up summary field types (filled in by the formula work)."""

FIELD_TYPES: list = []


def check_definitions(definitions, model) -> list[tuple[str, str, str, str]]:
    return []
