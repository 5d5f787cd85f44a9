"""Automation rules: ``WHEN <trigger> [IF <condition>] THEN <action>; …``
(docs/automation.md).

* :mod:`.statement` parses the statement (``statement.lark`` on top of the
  expression grammar); :mod:`.compiler` type-checks and compiles it, once
  per model revision;
* :mod:`.engine` runs rules in the save pipeline (before the write at order
  300, after it at 600) and writes the run log;
* :mod:`.outbox` delivers e-mail, webhooks and slow plugin actions on jobs;
  :mod:`.scheduled` runs time-triggered rules; :mod:`.retention` purges
  old run-log and outbox rows nightly;
* :mod:`.actions` is the contract of plugin actions
  (``register_automation_actions``).

Depends on :mod:`metacrm.rules`, :mod:`metacrm.metadata` and
:mod:`metacrm.platform` only; the access layer adds its actions by hook.
"""

from __future__ import annotations

from metacrm.rules.automation import outbox, retention, scheduled
from metacrm.rules.automation.actions import ActionCall, AutomationAction
from metacrm.rules.automation.compiler import CompiledRule, compile_rule, rules_for
from metacrm.rules.automation.engine import AfterSave, BeforeSave, actions_of
from metacrm.rules.automation.statement import parse_statement
from metacrm.rules.errors import RuleError

SAVE_STEPS: list = [BeforeSave(), AfterSave()]
JOBS: list = [*outbox.JOBS, *scheduled.JOBS, *retention.JOBS]


def check_definitions(definitions, model) -> list[tuple[str, str, str, str]]:
    """Every live automation of the proposed state must compile against it."""
    problems = []
    for definition in definitions.live("automation"):
        object_name = definition.key.split(".", 1)[0]
        if model.object(object_name) is None:
            continue  # its object is in the recycle bin; it comes back with it
        try:
            compile_rule(model, object_name, definition.document)
        except RuleError as exc:
            problems.append(("automation", definition.key, "rule", str(exc)))
    return problems


__all__ = [
    "JOBS",
    "SAVE_STEPS",
    "ActionCall",
    "AutomationAction",
    "CompiledRule",
    "actions_of",
    "check_definitions",
    "compile_rule",
    "parse_statement",
    "rules_for",
]
