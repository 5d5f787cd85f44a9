"""Document templates: printable HTML renderings of a record — a quote, an
order confirmation — that admins edit as metadata (kind
``document_template``, object-scoped: ``objects/<object>/document_templates.yaml``
in a package, ``/api/v1/meta/objects/{object}/document-templates`` in the
API) and that the one merge-field engine (:mod:`metacrm.rules.merge_fields`)
fills from a record as its reader may see it.

A template names child records it lists (``children``: a quote's lines
under ``lines``); they are read through the same store, so a line outside
the reader's scope is left out and a hidden field prints blank.

The ``email_document`` automation action sends a rendered document through
the outbox: ``CALL email_document("quote", contact.email)``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

from metacrm.metadata.definitions import DefinitionErrors, schema_for
from metacrm.metadata.fieldtypes.text import RICH_TEXT_TAGS
from metacrm.metadata.kinds import DefinitionKind, KindScope
from metacrm.metadata.store import MAX_LIMIT
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.rules.automation.actions import ActionCall, AutomationAction
from metacrm.rules.merge_fields import check_template, record_context, render

# Child records one rendering lists per child relation (a quote's lines): one page.
MAX_CHILD_RECORDS = MAX_LIMIT
# What a rendered document may hold: rich text's tags, tables and page
# structure, classes for the print stylesheet; no scripts, styles, images or
# event handlers, whatever an admin writes into the template.
DOCUMENT_TAGS = frozenset(RICH_TEXT_TAGS) | {
    "article", "header", "footer", "section", "table", "caption", "colgroup", "col",
    "thead", "tbody", "tfoot", "tr", "th", "td", "hr", "h5", "h6", "small", "div",
}  # fmt: skip
DOCUMENT_ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}


def sanitize_document(text: str) -> str:
    """A rendered document with only :data:`DOCUMENT_TAGS` and their attributes."""
    return nh3.clean(
        text,
        tags=set(DOCUMENT_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in DOCUMENT_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def check_document_template(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """The body and subject parse; each child relation points at this object."""
    state, object_api_name = scope.state, scope.object_api_name
    for key in ("body", "subject"):
        if document.get(key):
            _check_text(errors, key, document[key])
    for locale, texts in (document.get("translations") or {}).items():
        for key in ("body", "subject"):
            if texts.get(key):
                _check_text(errors, f"translations.{locale}.{key}", texts[key])
    names = set()
    for c, child in enumerate(document.get("children") or []):
        if child["name"] in names:
            errors.add(f"children[{c}].name", f"{child['name']!r} is given twice")
        names.add(child["name"])
        child_field = state.field(child["object"], child["field"]) if state.object(child["object"]) else None
        if state.object(child["object"]) is None:
            errors.add(f"children[{c}].object", f"no object {child['object']!r}")
        elif child_field is None or (child_field.get("options") or {}).get("target") != object_api_name:
            errors.add(f"children[{c}].field", f"{child['object']}.{child['field']} is no lookup to {object_api_name}")


def _check_text(errors: DefinitionErrors, path: str, text: str) -> None:
    try:
        check_template(text, path=path)
    except ValidationFailed as exc:  # its details hold "line N: …" under the path
        for message in exc.details.get(path, [exc.message]):
            errors.add(path, message)


DOCUMENT_TEMPLATE = DefinitionKind(
    "document_template",
    "document template",
    schema=schema_for("document_template", "metacrm.rules"),
    check=check_document_template,
    object_scoped=True,
    collection="document_templates",
    url="document-templates",
)


def document_templates(model, object_name: str) -> list[dict]:
    """The active document templates of ``object_name``, by label."""
    found = [
        d.document for d in model.definitions.scoped("document_template", object_name) if d.document.get("active", True)
    ]
    return sorted(found, key=lambda d: (d.get("label") or d["api_name"]).lower())


def document_template(model, object_name: str, name: str) -> dict:
    for document in document_templates(model, object_name):
        if document["api_name"] == name:
            return document
    raise NotFound(f"no document template {name!r} on {object_name}")


def translated(template: dict, key: str, locale: str | None) -> str:
    """``template[key]`` in ``locale`` when the template has it, else as written."""
    texts = (template.get("translations") or {}).get(locale or "") or {}
    return texts.get(key) or template.get(key) or ""


def render_document(
    store, object_name: str, record: dict, template: dict, *, locale: str | None = None
) -> dict[str, Any]:
    """``{"subject", "html", "label"}``: the template filled from ``record``
    (read by ``store``'s reader) and its children, read through the same store."""
    children = {}
    for child in template.get("children") or []:
        page = store.query(
            child["object"],
            filters=[(child["field"], "eq", record["id"])],
            sort=child.get("sort"),
            limit=MAX_CHILD_RECORDS,
        )
        children[child["name"]] = (child["object"], page.data)
    context = record_context(store, object_name, record, children=children)
    return {
        "label": translated(template, "label", locale),
        "subject": render(translated(template, "subject", locale), context),
        "html": sanitize_document(render(translated(template, "body", locale), context, html=True)),
    }


def plain_text(html_text: str) -> str:
    """A readable text version of a rendered document: the e-mail's
    fallback for clients that show no HTML."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html_text)
    text = re.sub(r"(?i)<(br|/p|/tr|/h[1-6]|/li|/header|/section)\b[^>]*>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    lines = (" ".join(line.split()) for line in html.unescape(text).splitlines())
    return "\n".join(line for line in lines if line)


def email_document(call: ActionCall) -> dict:
    """``CALL email_document("quote", contact.email)``: the record rendered
    with its object's document template ``quote`` (as the user who started
    the rule may read it), sent to the address through the outbox as the
    HTML body of an e-mail, its subject the template's."""
    name, to = call.args
    if not to:
        return {"skipped": "no address"}
    reader_guard = getattr(call.store.guard, "acting_for", None) or call.store.guard
    reader = call.store.nested(call.conn, guard=reader_guard, depth=call.store.depth)
    template = document_template(call.model, call.object, name)
    record = reader.get(call.object, call.record_id)
    document = render_document(reader, call.object, record, template)
    payload = {"to": to, "subject": document["subject"], "body": plain_text(document["html"]), "html": document["html"]}
    if not call.dry_run:
        call.outbox("email", payload)
    return {"to": to, "subject": document["subject"], "template": name}


EMAIL_DOCUMENT = AutomationAction(
    "email_document",
    email_document,
    params=("TEXT", "TEXT"),
    doc='E-mail the record rendered with one of its document templates: email_document("quote", contact.email)',
)
