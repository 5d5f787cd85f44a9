"""The rule language as a built-in plugin: it contributes to the metadata
engine exactly as a third-party plugin would (DESIGN.md §2) —

* :mod:`metacrm.rules.kinds`: validation rules and automations as
  definition kinds;
* :mod:`metacrm.rules.fieldtypes`: the formula and roll-up field types;
* :mod:`metacrm.rules.saving`: default-value expressions, layout conditions
  and validation rules as save-pipeline steps;
* :mod:`metacrm.rules.automation`: automation rules (save-pipeline steps,
  jobs, their tenant tables) and the generic actions ``copy_record``
  (:mod:`~metacrm.rules.automation.copying`) and ``email_document``;
* :mod:`metacrm.rules.documents`: document templates (printable records
  filled with merge fields) as a definition kind;

and each checks the rule-language parts of a metadata change through the
``check_definitions`` hook.
"""

from __future__ import annotations

from pathlib import Path

from metacrm.platform.hooks import hookimpl
from metacrm.rules import automation, documents, fieldtypes, kinds, saving
from metacrm.rules.automation.copying import COPY_RECORD


class RulesPlugin:
    @hookimpl
    def tenant_migration_locations(self):
        return [Path(__file__).parent / "migrations"]

    @hookimpl
    def tenant_secret_columns(self):
        return [
            {
                "table": "automation_secrets",
                "columns": ["secret"],
                "restore": "webhook rules sign with a new secret from their next delivery: rotate each one "
                "(POST /api/v1/meta/automations/{object}/{name}/webhook-secret) and give its receiver the new secret",
            }
        ]

    @hookimpl
    def register_field_types(self):
        return list(fieldtypes.FIELD_TYPES)

    @hookimpl
    def register_definition_kinds(self):
        return [*kinds.KINDS, documents.DOCUMENT_TEMPLATE]

    @hookimpl
    def register_automation_actions(self):
        return [COPY_RECORD, documents.EMAIL_DOCUMENT]

    @hookimpl
    def register_save_steps(self):
        return [*saving.SAVE_STEPS, *automation.SAVE_STEPS]

    @hookimpl
    def check_definitions(self, definitions, model):
        return [
            *fieldtypes.check_definitions(definitions, model),
            *saving.check_definitions(definitions, model),
            *automation.check_definitions(definitions, model),
        ]

    @hookimpl
    def register_jobs(self):
        return list(automation.JOBS)


rules_plugin = RulesPlugin()
