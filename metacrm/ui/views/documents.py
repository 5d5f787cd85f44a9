"""Printable documents (``/o/<object>/<id>/print[/<template>]``): the record
rendered with one of its object's document templates
(:mod:`metacrm.rules.documents`) on a page of its own, laid out for paper by
the print stylesheet — a quote to print or save as PDF from the browser.

The record and its child records are read with the user's guard, so the
page shows what they may read: hidden fields print blank, child records out
of their scope are left out.
"""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from metacrm.platform.errors import NotFound
from metacrm.plugins import context
from metacrm.rules.documents import document_template, document_templates, render_document
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import locale_name
from metacrm.ui.screens import object_for

TEMPLATE = "records/print.html"


@blueprint.get("/o/<object>/<int:record_id>/print")
@blueprint.get("/o/<object>/<int:record_id>/print/<template>")
def print_record(object: str, record_id: int, template: str | None = None):
    """The record as a printable document (its object's first template, or ``template``)."""
    obj = object_for(object)
    store = context.store()
    record = store.get(obj.api_name, record_id)
    if template is None:
        templates = document_templates(store.model, obj.api_name)
        if not templates:
            raise NotFound(f"{obj.api_name} has no document template")
        chosen = templates[0]
    else:
        chosen = document_template(store.model, obj.api_name, template)
    document = render_document(store, obj.api_name, record, chosen, locale=locale_name())
    # Sanitised by render_document (document tags only; values escaped by the template).
    return render_template(TEMPLATE, obj=obj, record=record, document=document, body=Markup(document["html"]))


def printable_documents(obj) -> list[dict]:
    """The document templates the record page offers under its actions."""
    return [
        {"api_name": d["api_name"], "label": d.get("label") or d["api_name"], "definition": d}
        for d in document_templates(context.model(), obj.api_name)
    ]
