"""The definition checks (the ``check_definitions`` hook) see the proposed
metadata and its compiled model, and any problem rejects the whole change."""

from __future__ import annotations

import pytest

from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types, metadata_service
from metacrm.platform.errors import ValidationFailed
from tests.metadata.conftest import ACTOR, create_object, snapshot


def no_field_named_secret(definitions, model):
    problems = []
    for obj in model.objects.values():
        if "secret" in obj.fields:
            problems.append(("field", f"{obj.api_name}.secret", "api_name", "no field may be called secret"))
    return problems


def test_a_problem_rejects_the_whole_change_and_names_its_path(instance, tenant):
    create_object(instance, "thing")
    service = MetadataService(tenant, field_types(instance), ACTOR, checks=no_field_named_secret)
    before = snapshot(instance)
    with pytest.raises(ValidationFailed) as refused, service.change("two fields") as tx:
        tx.add_field("thing", {"api_name": "fine", "label": "Fine", "type": "text"})
        tx.add_field("thing", {"api_name": "secret", "label": "Secret", "type": "text"})
    assert refused.value.details["errors"] == [
        {"path": "field:thing.secret.api_name", "message": "no field may be called secret"}
    ]
    assert snapshot(instance) == before
    with service.change("one field") as tx:
        tx.add_field("thing", {"api_name": "fine", "label": "Fine", "type": "text"})


def test_the_instance_service_runs_the_plugins_checks(instance, tenant):
    service = metadata_service(instance, tenant, ACTOR)
    assert service.checks is not None
    with service.change("an object") as tx:
        tx.create_object({"api_name": "thing", "label": "Thing"}, [])
