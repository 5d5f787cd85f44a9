"""The list service: parameters read from query arguments (errors name the
parameter), the screens' ``filter.<field>`` spelling, a list view joined with
``where=``, the page body, and ETag / If-Match."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from metacrm.access.guard import PolicyGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.metadata.store import Page
from metacrm.platform import audit
from metacrm.platform.errors import BadRequest, NotFound, ValidationFailed
from metacrm.plugins.records import (
    ListRequest,
    etag,
    expected_version,
    field_names,
    flag,
    list_page,
    page_body,
)


def test_every_list_parameter_is_read_from_the_query_arguments():
    args = MultiDict(
        [
            ("amount[gte]", "10"),
            ("stage", "open"),
            ("stage", "won"),
            ("q", "acme"),
            ("sort", "-amount"),
            ("limit", "5"),
            ("cursor", "abc"),
            ("offset", "3"),
            ("fields", "name, amount,"),
            ("count", "true"),
            ("deleted", "yes"),
            ("where", "amount > 1"),
            ("view", "big"),
        ]
    )
    assert ListRequest.from_args(args) == ListRequest(
        filters=(("amount", "gte", "10"), ("stage", "eq", "open"), ("stage", "eq", "won")),
        fields=["name", "amount"],
        q="acme",
        sort="-amount",
        limit="5",
        cursor="abc",
        offset=3,
        count=True,
        deleted=True,
        where="amount > 1",
        view="big",
    )


def test_empty_parameters_are_absent_and_a_plain_mapping_will_do():
    listed = ListRequest.from_args({"q": "", "sort": "", "where": "", "view": "", "count": "no", "name": "x"})
    assert listed == ListRequest(filters=(("name", "eq", "x"),))
    assert ListRequest.from_args({}) == ListRequest()
    assert ListRequest.from_args({"stage": ["open", "won"]}).filters == (
        ("stage", "eq", "open"),
        ("stage", "eq", "won"),
    )


@pytest.mark.parametrize(
    "key,value",
    [("nope!", "1"), ("Name", "x"), ("name[EQ]", "a"), ("offset", "-1"), ("offset", "two"), ("filter.name", "x")],
)
def test_a_malformed_parameter_is_refused_naming_it(key, value):
    with pytest.raises(ValidationFailed) as refused:
        ListRequest.from_args(MultiDict([(key, value)]))
    assert list(refused.value.details["fields"]) == [key]


def test_the_screens_filter_prefix_is_an_alias_of_a_field_filter():
    args = MultiDict([("filter.amount[gte]", "10"), ("filter.stage", "won"), ("name", "x"), ("filter.q", "y")])
    assert ListRequest.from_args(args, filter_prefix=True).filters == (
        ("amount", "gte", "10"),
        ("stage", "eq", "won"),
        ("name", "eq", "x"),
        ("q", "eq", "y"),  # a field named like a list parameter
    )
    with pytest.raises(ValidationFailed) as refused:
        ListRequest.from_args(MultiDict([("filter.Name", "x")]), filter_prefix=True)
    assert list(refused.value.details["fields"]) == ["filter.Name"]


def test_flags_and_field_lists():
    assert flag({"count": "TRUE"}, "count") and flag({"count": "1"}, "count")
    assert not flag({"count": "false"}, "count") and not flag({}, "count")
    assert field_names(" name ,, amount") == ["name", "amount"]
    assert field_names("") is None and field_names(None) is None


def test_a_page_body_has_the_total_only_when_counted():
    assert page_body(Page([{"id": 1}], "c")) == {"data": [{"id": 1}], "next_cursor": "c"}
    assert page_body(Page([], None, 0)) == {"data": [], "next_cursor": None, "total": 0}


def test_etag_and_the_expected_version():
    assert etag({"id": 1, "version": 3}) == '"3"'
    body = {"name": "x", "version": 2}
    assert expected_version('"4"', body) == 4 and body == {"name": "x", "version": 2}  # the header wins
    assert expected_version(' W/"5" ', {}) == 5
    assert expected_version(None, body) == 2 and body == {"name": "x"}  # taken out of the body
    assert expected_version("", {}) is None
    with pytest.raises(BadRequest):
        expected_version("*", {})
    for bad in ("2", True, 2.0):
        with pytest.raises(ValidationFailed) as refused:
            expected_version(None, {"version": bad})
        assert list(refused.value.details["fields"]) == ["version"]


# -- listing through the record store ----------------------------------------------------------------


@pytest.fixture
def deals(instance, world):
    """Tenant acme's ``deal`` object with a list view ``big`` (stage open or
    won, amount over 1000, sorted by amount descending); the admin's store."""
    binding = instance.db.bind("acme")
    with metadata_service(instance, binding, audit.SYSTEM).change("deals") as tx:
        tx.create_object(
            {"api_name": "deal", "label": "Deal"},
            [
                {"api_name": "name", "label": "Name", "type": "text", "required": True},
                {"api_name": "amount", "label": "Amount", "type": "integer"},
                {"api_name": "stage", "label": "Stage", "type": "text"},
            ],
        )
        tx.put_list_view(
            "deal",
            {
                "api_name": "big",
                "label": "Big live deals",
                "columns": ["name", "amount"],
                "sort": "-amount",
                "filters": {"stage": ["open", "won"]},
                "filter": "amount > 1000",
            },
        )
    identity = world.identity("admin@acme.test", "acme")
    guard = PolicyGuard.for_identity(instance, binding, identity, model_for(instance, binding))
    store = record_store(instance, binding, guard, audit.Actor(user_id=identity.user_id, email=identity.email))
    rows = [
        {"name": "Alpha", "amount": 500, "stage": "open"},
        {"name": "Beta", "amount": 20000, "stage": "won"},
        {"name": "Gamma", "amount": 15000, "stage": "open"},
        {"name": "Delta", "amount": 30000, "stage": "lost"},
    ]
    store.bulk_create("deal", rows)
    return store


def _names(store, **params) -> list[str]:
    return [row["name"] for row in list_page(store, "deal", ListRequest.from_args(params)).data]


def test_a_list_view_joins_the_requests_filters_where_and_sort(deals):
    assert _names(deals, view="big") == ["Beta", "Gamma"]
    assert _names(deals, view="big", sort="name") == ["Beta", "Gamma"]
    assert _names(deals, view="big", where='stage = "open"') == ["Gamma"]
    assert _names(deals, view="big", stage="won") == ["Beta"]
    assert _names(deals, where="amount > 1000", sort="amount") == ["Gamma", "Beta", "Delta"]
    assert _names(deals, where='$User.Email = "admin@acme.test" and amount < 1000') == ["Alpha"]
    with pytest.raises(NotFound):
        _names(deals, view="nope")


def test_extra_where_narrows_the_list(deals):
    table = deals.object("deal").table
    listed = list_page(deals, "deal", ListRequest(sort="name", count=True), extra_where=table.c.amount < 20000)
    assert [row["name"] for row in listed.data] == ["Alpha", "Gamma"] and listed.total == 2
