"""A function a plugin adds through ``register_rule_functions`` works
wherever the product checks rules: formulas, validation rules, automations
and ``where=`` — the checker takes the functions of the instance that
compiled the model."""

from __future__ import annotations

import pytest

from metacrm.access.guard import SystemGuard
from metacrm.app import build_instance
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.hooks import hookimpl
from metacrm.plugins.where import where_clause
from metacrm.rules import NUMBER, Function, Param, UserGlobals
from tests.conftest import drop_namespaces

TWICE = Function(
    name="TWICE",
    category="math",
    params=(Param("number", ("NUMBER",)),),
    returns=NUMBER,
    python=lambda number: number * 2,
    sql=lambda call: call.args[0] * 2,
    doc="The number doubled.",
    example="TWICE(2) = 4",
)


class Doubling:
    @hookimpl
    def register_rule_functions(self):
        return [TWICE]


@pytest.fixture
def plugged(config):
    instance = build_instance(config, load_entry_points=False)
    instance.pm.register(Doubling())
    instance.upgrade_platform()
    yield instance
    drop_namespaces(instance)
    instance.dispose()


def test_a_plugin_function_serves_formulas_validation_rules_automations_and_filters(plugged):
    tenancy.create_tenant(plugged, "acme", "Acme")
    binding = plugged.db.bind("acme")
    with metadata_service(plugged, binding, audit.SYSTEM).change("deal") as tx:
        tx.create_object(
            {"api_name": "deal", "label": "Deal"},
            [
                {"api_name": "amount", "label": "Amount", "type": "integer"},
                {"api_name": "target", "label": "Target", "type": "integer"},
                {
                    "api_name": "doubled",
                    "label": "Doubled",
                    "type": "formula",
                    "options": {"expression": "TWICE(amount)", "return_type": "number", "scale": 0},
                },
            ],
        )
        rule = {"api_name": "cap", "condition": "TWICE(amount) > 100", "message": "too big", "field": "amount"}
        tx.put_validation_rule("deal", rule)
        tx.put_automation("deal", {"api_name": "aim", "rule": "WHEN created THEN SET target = TWICE(amount) + 1"})
    store = record_store(plugged, binding, SystemGuard(), audit.SYSTEM)
    deal = store.create("deal", {"name": "d", "amount": 20})
    assert (deal["doubled"], deal["target"]) == (40, 41)
    with pytest.raises(ValidationFailed) as refused:
        store.create("deal", {"name": "big", "amount": 60})
    assert refused.value.details["fields"] == {"amount": ["too big"]}
    model = model_for(plugged, binding)
    clause = where_clause(model, "deal", "TWICE(amount) = 40", {"amount", "doubled"}, lambda: UserGlobals(id=1))
    assert [r["id"] for r in store.query("deal", extra_where=clause).data] == [deal["id"]]
