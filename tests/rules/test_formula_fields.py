"""Formula and roll-up summary fields end to end: defined through the
metadata API, no column, computed in SQL on read, filtered, sorted and used
in ``where=``, described by OpenAPI, and guarded by definition checks on
every later change. Once per backend (SQLite, and PostgreSQL when
METACRM_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator

from metacrm.access import provision_member
from metacrm.app import build_instance, create_app
from metacrm.metadata.model import model_for
from metacrm.platform import identity as identities
from metacrm.platform import tenancy
from tests.conftest import BACKENDS, PASSWORD, drop_namespaces, make_config

META = "/api/v1/meta/objects"
DATA = "/api/v1/data"

ACCOUNT_FIELDS = [{"api_name": "industry", "label": "Industry", "type": "text"}]
DEAL_FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "probability", "label": "Probability", "type": "percent"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {
        "api_name": "stage",
        "label": "Stage",
        "type": "picklist",
        "options": {"values": [{"value": v, "label": v.title()} for v in ("open", "won", "lost")]},
    },
    {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
]


def formula(api_name: str, expression: str, return_type: str, **options) -> dict:
    options = {"expression": expression, "return_type": return_type, **options}
    return {"api_name": api_name, "label": api_name.replace("_", " ").title(), "type": "formula", "options": options}


def roll_up(api_name: str, function: str, field: str | None = None, **options) -> dict:
    options = {"object": "deal", "relation": "account", "function": function, **options}
    if field:
        options["field"] = field
    return {"api_name": api_name, "label": api_name.replace("_", " ").title(), "type": "roll_up", "options": options}


DEAL_FORMULAS = [
    formula("weighted", "amount * probability / 100", "currency"),
    formula("big", "amount > 10000", "boolean"),
    formula("label", 'UPPER(name) & "-" & account.industry', "text"),
    formula("due", "close_date + 30", "date"),
    formula("weighted_k", "weighted / 1000", "number", scale=1),
    formula("touched", "IF(ISBLANK(close_date), NULL, updated_at)", "datetime"),
]
ACCOUNT_ROLL_UPS = [
    roll_up("deal_count", "count"),
    roll_up("open_total", "sum", "amount", filter='ISPICKVAL(stage, "open")'),
    roll_up("largest", "max", "amount"),
    roll_up("first_close", "min", "close_date"),
    roll_up("weighted_sum", "sum", "weighted"),
    roll_up("last_touch", "max", "touched"),
]
ACCOUNTS = [{"name": "Acme", "industry": "tech"}, {"name": "Bolt", "industry": "retail"}, {"name": "Calm"}]
# (name, amount, probability, stage, close_date, account index)
DEALS = [
    ("Alpha", 500, 50, "open", "2026-01-10", 0),
    ("Beta", 20000, 25, "won", "2026-03-01", 0),
    ("Gamma", 15000, 10, "open", None, 1),
    ("Delta", None, 50, "won", "2025-12-24", None),
]


class Crm:
    """One tenant with accounts, deals, their formulas and roll-ups."""

    def __init__(self, instance, client):
        self.instance = instance
        self.client = client
        self.binding = instance.db.bind("acme")
        self.admin = self.bearer("admin@acme.test")

    def bearer(self, email: str) -> dict:
        users = {row["email"]: row for row in identities.list_users(self.instance, "acme")}
        identity = identities.identity_for(self.instance, users[email]["id"], "acme")
        return {"Authorization": f"Bearer {identities.create_token(self.instance, identity, 'test')[1]}"}

    def post(self, path: str, body: dict, headers: dict | None = None):
        return self.client.post(path, json=body, headers=headers or self.admin)

    def rows(self, object_name: str, headers: dict | None = None, **params) -> list[dict]:
        response = self.client.get(f"{DATA}/{object_name}", query_string=params, headers=headers or self.admin)
        assert response.status_code == 200, response.json
        return response.json["data"]

    def by_name(self, object_name: str, **params) -> dict[str, dict]:
        return {row["name"]: row for row in self.rows(object_name, **params)}

    def names(self, object_name: str, **params) -> list[str]:
        return [row["name"] for row in self.rows(object_name, sort="name", **params)]


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("formulas"), request.param)
    instance = build_instance(config, load_entry_points=False)
    instance.upgrade_platform()
    try:
        tenancy.create_tenant(instance, "acme", "Acme")
        identities.create_user(
            instance, tenant="acme", email="admin@acme.test", password=PASSWORD, is_admin=True, role="admin"
        )
        rep = identities.create_user(
            instance, tenant="acme", email="rep@acme.test", password=PASSWORD, role="sales_rep"
        )
        provision_member(instance, instance.db.bind("acme"), rep)
        app = create_app(instance=instance)
        app.config["TESTING"] = True
        crm = Crm(instance, app.test_client())
        for api_name, fields in (("account", ACCOUNT_FIELDS), ("deal", DEAL_FIELDS)):
            body = {"api_name": api_name, "label": api_name.title(), "fields": fields}
            assert crm.post(META, body).status_code == 201
        for field in DEAL_FORMULAS:
            response = crm.post(f"{META}/deal/fields", field)
            assert response.status_code == 201, response.json
        for field in [*ACCOUNT_ROLL_UPS, formula("summary", 'name & ": " & TEXT(deal_count) & " deals"', "text")]:
            response = crm.post(f"{META}/account/fields", field)
            assert response.status_code == 201, response.json
        # A formula reading a roll-up through a lookup (a subquery in a subquery).
        siblings = formula("siblings", "account.deal_count - 1", "number", scale=0)
        assert crm.post(f"{META}/deal/fields", siblings).status_code == 201
        accounts = crm.post(f"{DATA}/account/bulk", {"records": ACCOUNTS}).json["data"]
        crm.account_ids = {a["name"]: a["id"] for a in accounts}
        records = []
        for name, amount, probability, stage, close_date, account in DEALS:
            record = {"name": name, "amount": amount, "probability": probability, "stage": stage}
            record.update(close_date=close_date, account=None if account is None else accounts[account]["id"])
            records.append(record)
        response = crm.post(f"{DATA}/deal/bulk", {"records": records})
        assert response.status_code == 201, response.json
        crm.deal_ids = {d["name"]: d["id"] for d in response.json["data"]}
        yield crm
    finally:
        drop_namespaces(instance)
        instance.dispose()


# -- reading -----------------------------------------------------------------------------------


def test_formula_fields_have_no_column(crm):
    with crm.binding.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("o_deal", schema=crm.binding.schema)}
    assert {"amount", "account"} <= columns
    assert not columns & {"weighted", "big", "label", "due", "weighted_k", "siblings"}


def test_formula_values_have_the_shape_of_their_return_type(crm):
    deals = crm.by_name("deal")
    alpha, beta, gamma, delta = (deals[n] for n in ("Alpha", "Beta", "Gamma", "Delta"))
    assert (alpha["weighted"], beta["weighted"], gamma["weighted"], delta["weighted"]) == (250, 5000, 1500, None)
    assert (alpha["big"], beta["big"], gamma["big"], delta["big"]) == (False, True, True, None)
    assert alpha["due"] == "2026-02-09" and gamma["due"] is None
    # Lookup traversal: the account's industry (& treats a null as empty text).
    assert (alpha["label"], gamma["label"], delta["label"]) == ("ALPHA-tech", "GAMMA-retail", "DELTA-")
    # A formula of a formula, rounded to its scale (1).
    assert (alpha["weighted_k"], beta["weighted_k"]) == (0.3, 5)
    # A formula reading a roll-up through a lookup.
    assert (alpha["siblings"], gamma["siblings"], delta["siblings"]) == (1, 0, None)
    one = crm.client.get(f"{DATA}/deal/{crm.deal_ids['Beta']}", headers=crm.admin).json
    assert one["weighted"] == 5000 and one["label"] == "BETA-tech"


def test_numbers_are_rounded_to_the_scale_in_sql_so_filters_match_what_is_shown(crm):
    # weighted_k of Alpha is 0.25, rounded half away from zero to one place
    assert crm.by_name("deal")["Alpha"]["weighted_k"] == 0.3
    assert crm.names("deal", weighted_k="0.3") == ["Alpha"]
    assert crm.names("deal", where="weighted_k = 0.3") == ["Alpha"]


def test_formulas_filter_with_the_operators_of_their_return_type(crm):
    assert crm.names("deal", **{"weighted[gt]": "1000"}) == ["Beta", "Gamma"]
    assert crm.names("deal", big="true") == ["Beta", "Gamma"]
    assert crm.names("deal", **{"label[contains]": "tech"}) == ["Alpha", "Beta"]
    assert crm.names("deal", **{"due[lt]": "2026-03-01"}) == ["Alpha", "Delta"]
    assert crm.names("deal", **{"weighted[isnull]": "true"}) == ["Delta"]
    refused = crm.client.get(f"{DATA}/deal", query_string={"big[gt]": "1"}, headers=crm.admin)
    assert refused.status_code == 422 and "big" in refused.json["error"]["message"]


def test_formulas_sort_and_page_with_cursors(crm):
    first = crm.client.get(f"{DATA}/deal", query_string={"sort": "-weighted", "limit": 2}, headers=crm.admin).json
    assert [r["name"] for r in first["data"]] == ["Delta", "Beta"]  # empty values first when descending
    rest = crm.client.get(
        f"{DATA}/deal",
        query_string={"sort": "-weighted", "limit": 2, "cursor": first["next_cursor"]},
        headers=crm.admin,
    ).json
    assert [r["name"] for r in rest["data"]] == ["Gamma", "Alpha"]


def test_formulas_work_in_where_and_in_other_rules(crm):
    assert crm.names("deal", where="weighted > 1000 and big") == ["Beta", "Gamma"]
    assert crm.names("deal", where='BEGINS(label, "ALPHA")') == ["Alpha"]
    assert crm.names("deal", where="due < DATE(2026, 3, 1)", count="true") == ["Alpha", "Delta"]


def test_roll_ups_count_sum_min_and_max_the_live_children(crm):
    accounts = crm.by_name("account")
    acme, bolt, calm = accounts["Acme"], accounts["Bolt"], accounts["Calm"]
    assert (acme["deal_count"], bolt["deal_count"], calm["deal_count"]) == (2, 1, 0)
    # sum with a filter (open deals only); no children sum to 0
    assert (acme["open_total"], bolt["open_total"], calm["open_total"]) == (500, 15000, 0)
    assert (acme["largest"], bolt["largest"], calm["largest"]) == (20000, 15000, None)
    assert (acme["first_close"], bolt["first_close"], calm["first_close"]) == ("2026-01-10", None, None)
    # a roll-up of a formula
    assert (acme["weighted_sum"], bolt["weighted_sum"], calm["weighted_sum"]) == (5250, 1500, 0)
    assert acme["summary"] == "Acme: 2 deals"


def test_datetime_formulas_and_roll_ups_of_them_read_as_utc_iso_text(crm):
    deals = crm.by_name("deal")
    alpha, gamma = deals["Alpha"], deals["Gamma"]
    assert alpha["touched"] == alpha["updated_at"] and alpha["touched"].endswith("+00:00")
    assert gamma["touched"] is None
    accounts = crm.by_name("account")
    assert accounts["Acme"]["last_touch"] == max(deals["Alpha"]["updated_at"], deals["Beta"]["updated_at"])
    assert accounts["Bolt"]["last_touch"] is None
    assert crm.names("deal", **{"touched[lt]": "2100-01-01T00:00:00Z"}) == ["Alpha", "Beta", "Delta"]
    assert crm.names("account", where="last_touch < NOW()") == ["Acme"]


def test_roll_ups_filter_sort_and_work_in_where(crm):
    assert crm.names("account", **{"deal_count[gte]": "1"}) == ["Acme", "Bolt"]
    assert [r["name"] for r in crm.rows("account", sort="-open_total")] == ["Bolt", "Acme", "Calm"]
    assert crm.names("account", where="deal_count = 0 or largest > 16000") == ["Acme", "Calm"]
    assert crm.names("account", **{"first_close[isnull]": "false"}) == ["Acme"]


def test_children_in_the_recycle_bin_drop_out_of_roll_ups(crm):
    beta = crm.deal_ids["Beta"]
    assert crm.client.delete(f"{DATA}/deal/{beta}", headers=crm.admin).status_code == 204
    try:
        acme = crm.by_name("account")["Acme"]
        assert (acme["deal_count"], acme["largest"], acme["weighted_sum"]) == (1, 500, 250)
        assert crm.by_name("deal")["Alpha"]["siblings"] == 0
    finally:
        assert crm.client.post(f"{DATA}/deal/{beta}/restore", headers=crm.admin).status_code == 200
    assert crm.by_name("account")["Acme"]["deal_count"] == 2


def test_writing_a_computed_field_is_refused_naming_it(crm):
    alpha = crm.deal_ids["Alpha"]
    response = crm.client.patch(f"{DATA}/deal/{alpha}", json={"weighted": 1}, headers=crm.admin)
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"]["weighted"] == ["is read-only"]
    created = crm.post(f"{DATA}/account", {"name": "Dent", "deal_count": 5})
    assert created.status_code == 422 and "deal_count" in created.json["error"]["details"]["fields"]


def test_a_hidden_roll_up_never_reaches_the_user(crm):
    response = crm.client.put(
        "/api/v1/access/roles/sales_rep/objects/account",
        json={"create": True, "read": "all", "update": "own", "delete": "own", "fields": {"open_total": "hidden"}},
        headers=crm.admin,
    )
    assert response.status_code == 200, response.json
    rep = crm.bearer("rep@acme.test")
    rows = crm.rows("account", headers=rep)
    assert rows and all("open_total" not in row and "deal_count" in row for row in rows)
    for params in ({"open_total[gt]": "0"}, {"sort": "open_total"}, {"where": "open_total > 0"}):
        refused = crm.client.get(f"{DATA}/account", query_string=params, headers=rep)
        assert refused.status_code == 422, params


# -- OpenAPI -----------------------------------------------------------------------------------


def test_openapi_describes_computed_fields_as_read_only_values(crm):
    document = crm.client.get("/api/v1/openapi.json", headers=crm.admin).json
    schemas = document["components"]["schemas"]
    deal = schemas["Deal"]["properties"]
    assert deal["weighted"]["readOnly"] and deal["weighted"]["x-field-type"] == "formula"
    assert deal["weighted"]["type"] == ["number", "null"] and deal["big"]["type"] == ["boolean", "null"]
    assert deal["due"]["format"] == "date" and deal["touched"]["format"] == "date-time"
    account = schemas["Account"]["properties"]
    assert account["deal_count"]["type"] == ["integer", "null"] and account["deal_count"]["readOnly"]
    assert account["first_close"]["format"] == "date"
    assert "weighted" not in schemas["DealInput"]["properties"]
    # Real records validate against their schemas.
    for name, component in (("deal", "Deal"), ("account", "Account")):
        validator = Draft202012Validator(
            {"$ref": f"#/components/schemas/{component}", "components": document["components"]},
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        for row in crm.rows(name):
            assert not list(validator.iter_errors(row)), row
    shared = document["components"]["parameters"]
    listed = document["paths"]["/api/v1/data/deal"]["get"]["parameters"]
    parameters = {p["name"]: p for p in (shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in listed)}
    assert parameters["weighted[gt]"]["schema"] == {"type": "number"}
    assert parameters["due[lt]"]["schema"] == {"type": "string", "format": "date"}
    assert "big[gt]" not in parameters


def test_the_field_type_catalogue_lists_both_types(crm):
    types = {t["type"]: t for t in crm.client.get("/api/v1/meta/field-types", headers=crm.admin).json["data"]}
    assert types["formula"]["options_schema"]["required"] == ["expression", "return_type"]
    assert types["roll_up"]["options_schema"]["properties"]["function"]["enum"] == ["count", "sum", "min", "max"]
    assert types["formula"]["converts_to"] == [] and types["formula"]["widget"] == "readonly"


# -- definition checks ------------------------------------------------------------------------------


def _refusal(response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.json
    return response.json["error"]["details"]["fields"]


def test_an_unknown_field_is_refused_with_its_position_and_a_suggestion(crm):
    fields = _refusal(crm.post(f"{META}/deal/fields", formula("bad", "amount * probabilty", "number")))
    [message] = fields["field:deal.bad.options.expression"]
    assert message.startswith("line 1, column 10:") and "did you mean 'probability'" in message
    assert crm.client.get(f"{META}/deal/fields/bad", headers=crm.admin).status_code == 404


@pytest.mark.parametrize(
    "field,path,words",
    [
        (formula("f", "amount >", "number"), "options.expression", ["line 1"]),
        (formula("f", 'name & "x"', "number"), "options.return_type", ["TEXT", "set return_type to text"]),
        (formula("f", "$User.Id = owner_id", "boolean"), "options.expression", ["$User cannot be used"]),
        (formula("f", 'REGEX(name, "a.*")', "boolean"), "options.expression", ["REGEX", "no SQL form"]),
        (formula("f", "ISCHANGED(amount)", "boolean"), "options.expression", ["ISCHANGED"]),
    ],
)
def test_bad_formulas_are_refused(crm, field, path, words):
    fields = _refusal(crm.post(f"{META}/deal/fields", field))
    [message] = fields[f"field:deal.f.{path}"]
    assert all(word in message for word in words), message


def test_a_null_formula_and_a_number_for_a_percent_are_accepted(crm):
    for field in (formula("no_date", "NULL", "date"), formula("share", "probability / 2", "percent", scale=4)):
        assert crm.post(f"{META}/deal/fields", field).status_code == 201
        assert crm.client.delete(f"{META}/deal/fields/{field['api_name']}", headers=crm.admin).status_code == 204


@pytest.mark.parametrize(
    "field,path,words",
    [
        (roll_up("r", "count", object="dael"), "options.object", ["did you mean 'deal'"]),
        (roll_up("r", "count", relation="amount"), "options.relation", ["use account"]),
        (roll_up("r", "sum", "name"), "options.field", ["sum needs a number field"]),
        (roll_up("r", "min", "stage"), "options.field", ["number, date or date-time"]),
        (roll_up("r", "max"), "options.field", ["max needs the child field"]),
        (roll_up("r", "count", "amount"), "options.field", ["leave field out"]),
        (roll_up("r", "sum", "amonut"), "options.field", ["did you mean 'amount'"]),
        (roll_up("r", "count", filter="stage = 'opne'"), "options.filter", ["line 1, column 9", "did you mean 'open'"]),
        (roll_up("r", "count", filter="amount + 1"), "options.filter", ["condition"]),
    ],
)
def test_bad_roll_ups_are_refused(crm, field, path, words):
    fields = _refusal(crm.post(f"{META}/account/fields", field))
    [message] = fields[f"field:account.r.{path}"]
    assert all(word in message for word in words), message


def test_formulas_reading_each_other_in_a_cycle_are_refused(crm):
    assert crm.post(f"{META}/deal/fields", formula("loop_a", "1", "number")).status_code == 201
    try:
        assert crm.post(f"{META}/deal/fields", formula("loop_b", "loop_a + 1", "number")).status_code == 201
        patch = {"options": {"expression": "loop_b + 1", "return_type": "number"}}
        response = crm.client.patch(f"{META}/deal/fields/loop_a", json=patch, headers=crm.admin)
        [message] = _refusal(response)["field:deal.loop_a.options.expression"]
        assert "cycle" in message and "deal.loop_a → deal.loop_b → deal.loop_a" in message
        # Through a roll-up and a lookup: account.loop_sum sums deal.loop_c, which reads account.loop_sum.
        assert crm.post(f"{META}/account/fields", roll_up("loop_sum", "sum", "loop_b")).status_code == 201
        patch = {"options": {"expression": "account.loop_sum", "return_type": "number"}}
        response = crm.client.patch(f"{META}/deal/fields/loop_a", json=patch, headers=crm.admin)
        assert "cycle" in _refusal(response)["field:deal.loop_a.options.expression"][0]
    finally:
        for object_name, name in (("account", "loop_sum"), ("deal", "loop_b"), ("deal", "loop_a")):
            crm.client.delete(f"{META}/{object_name}/fields/{name}", headers=crm.admin)
    assert crm.by_name("deal")["Alpha"]["weighted"] == 250


def test_deleting_a_field_a_formula_or_roll_up_reads_is_refused_naming_them(crm):
    fields = _refusal(crm.client.delete(f"{META}/deal/fields/probability", headers=crm.admin))
    assert "unknown field 'probability'" in fields["field:deal.weighted.options.expression"][0]
    fields = _refusal(crm.client.delete(f"{META}/deal/fields/stage", headers=crm.admin))
    assert "field:account.open_total.options.filter" in fields
    fields = _refusal(crm.client.delete(f"{META}/deal/fields/weighted", headers=crm.admin))
    assert set(fields) == {"field:deal.weighted_k.options.expression", "field:account.weighted_sum.options.field"}
    fields = _refusal(crm.client.delete(f"{META}/deal", headers=crm.admin))
    assert "no object 'deal'" in fields["field:account.deal_count.options.object"][0]
    assert crm.by_name("deal")["Alpha"]["weighted"] == 250  # nothing changed


def test_changing_what_a_formula_reads_to_another_type_is_refused(crm):
    patch = {"options": {"expression": "amount > 10000", "return_type": "boolean"}}
    response = crm.client.patch(f"{META}/deal/fields/weighted", json=patch, headers=crm.admin)
    assert set(_refusal(response)) == {
        "field:deal.weighted_k.options.expression",
        "field:account.weighted_sum.options.field",
    }


def test_type_changes_to_and_from_computed_types_are_refused(crm):
    to_formula = {"type": "formula", "options": {"expression": "1", "return_type": "number"}}
    response = crm.client.patch(f"{META}/deal/fields/amount", json=to_formula, headers=crm.admin)
    assert response.status_code == 422 and "currency to formula" in response.json["error"]["message"]
    response = crm.client.patch(f"{META}/deal/fields/big", json={"type": "boolean", "options": {}}, headers=crm.admin)
    assert response.status_code == 422 and "formula to boolean" in response.json["error"]["message"]


def test_an_option_change_recomputes_every_value(crm):
    patch = {"options": {"expression": "weighted / 1000", "return_type": "number", "scale": 2}}
    response = crm.client.patch(f"{META}/deal/fields/weighted_k", json=patch, headers=crm.admin)
    assert response.status_code == 200, response.json
    try:
        assert crm.by_name("deal")["Alpha"]["weighted_k"] == 0.25
    finally:
        patch["options"]["scale"] = 1
        assert crm.client.patch(f"{META}/deal/fields/weighted_k", json=patch, headers=crm.admin).status_code == 200
    assert crm.by_name("deal")["Alpha"]["weighted_k"] == 0.3


def test_computed_fields_cannot_be_required_or_have_defaults(crm):
    field = {**formula("f", "1", "number"), "required": True, "default": 3}
    fields = _refusal(crm.post(f"{META}/deal/fields", field))
    assert "required" in fields and "default" in fields


def test_the_model_reads_rule_types_of_computed_fields(crm):
    model = model_for(crm.instance, crm.binding)
    deal, account = model.object("deal"), model.object("account")
    assert deal.fields["weighted"].rule_type == "NUMBER" and deal.fields["due"].rule_type == "DATE"
    assert account.fields["first_close"].rule_type == "DATE" and account.fields["deal_count"].rule_type == "NUMBER"


def test_formulas_of_formulas_beyond_what_the_database_parses_are_refused(crm):
    nested = "amount"
    for _ in range(12):
        nested = f"ABS({nested} - 1)"
    assert crm.post(f"{META}/deal/fields", formula("deep_a", nested, "number")).status_code == 201
    try:
        deeper = nested.replace("amount", "deep_a")
        [message] = _refusal(crm.post(f"{META}/deal/fields", formula("deep_b", deeper, "number")))[
            "field:deal.deep_b.options.expression"
        ]
        assert "too complex" in message
    finally:
        assert crm.client.delete(f"{META}/deal/fields/deep_a", headers=crm.admin).status_code == 204


def test_record_at_a_time_rules_compute_formulas_from_the_unsaved_values(instance):
    """Validation and automation rules run before the record is stored: a
    formula they read is computed from the record's values there and then,
    rounded as the SQL value is."""
    from decimal import Decimal

    from metacrm.metadata.model import metadata_service
    from metacrm.platform import audit
    from metacrm.rules import CheckContext, RecordContext, check, compile_python, parse

    tenancy.create_tenant(instance, "solo", "Solo")
    binding = instance.db.bind("solo")
    with metadata_service(instance, binding, audit.SYSTEM).change("deal") as tx:
        tx.create_object(
            {"api_name": "deal", "label": "Deal"},
            [
                {"api_name": "amount", "label": "Amount", "type": "decimal", "options": {"scale": 2}},
                {"api_name": "probability", "label": "Probability", "type": "integer"},
                formula("weighted", "amount * probability / 3", "number", scale=2),
                formula("doubled", "weighted * 2", "number", scale=2),
            ],
        )
    model = model_for(instance, binding)
    evaluate = compile_python(check(parse("doubled + 1"), CheckContext(model, "deal")))
    assert evaluate(RecordContext({"amount": 10, "probability": 1})) == Decimal("7.66")  # 3.33 * 2 + 1
    assert evaluate(RecordContext({"amount": None, "probability": 1})) is None
