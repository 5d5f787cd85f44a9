"""The one error of the rule language.

Every problem with a rule — a syntax error, an unknown field, a wrong
argument type, an expression that is too long, too deep or too costly to
evaluate — is a :class:`RuleError`: a 422 validation failure whose message
starts with ``line L, column C:`` and whose details carry the position and,
when the source text is known, a caret snippet. Depends on
:mod:`metacrm.platform.errors` only.
"""

from __future__ import annotations

from typing import Any

from metacrm.platform.errors import ValidationFailed


def snippet(source: str, line: int, column: int) -> str:
    """The source line at ``line`` and a caret under ``column`` (both 1-based).
    Tabs before the column are kept, so the caret lines up in any editor."""
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].rstrip("\r")
    prefix = "".join("\t" if ch == "\t" else " " for ch in text[: max(column - 1, 0)])
    return f"{text}\n{prefix}^"


class RuleError(ValidationFailed):
    """A rule that cannot be parsed, type-checked or evaluated.

    ``details`` is ``{"line", "column", "reason", ...}`` plus ``"snippet"``
    when the source is known and ``"expected"`` (friendly token names) for
    syntax errors."""

    code = "rule_error"

    def __init__(
        self,
        reason: str,
        *,
        line: int = 1,
        column: int = 1,
        source: str | None = None,
        **extra: Any,
    ):
        self.reason = reason
        self.line = line
        self.column = column
        details: dict[str, Any] = {"line": line, "column": column, "reason": reason, **extra}
        if source is not None:
            details["snippet"] = snippet(source, line, column)
        super().__init__(f"line {line}, column {column}: {reason}", details=details)

    def with_source(self, source: str) -> RuleError:
        """This error with the caret snippet of ``source`` added (if missing)."""
        if isinstance(self.details, dict) and "snippet" not in self.details:
            self.details["snippet"] = snippet(source, self.line, self.column)
        return self
