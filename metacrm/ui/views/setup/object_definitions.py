"""The setup screens of a definition kind scoped to an object
(``/setup/objects/<object>/<segment>``): validation rules, duplicate rules,
approval processes.

Each such kind has the same four screens: the object's list (each row with
its on/off switch), the form of a new definition, and one definition's form,
which also takes the switch (``action=active``; htmx gets the list's row
back) and the delete (``action=delete``). :class:`ObjectDefinitionScreen`
holds them once; a kind's module subclasses it with what is its own — the
form's fields and how they are read, what its templates need besides the
definition, its messages — and calls :meth:`ObjectDefinitionScreen.register`.
Every route is declared with :func:`metacrm.ui.setup.setup_route` (the
manage-metadata right), every change goes through the change pipeline the
definitions API uses: one transaction, a revision, an audit entry.
"""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Conflict, MetacrmError, NotFound
from metacrm.plugins import context
from metacrm.rules import RuleError
from metacrm.ui.blueprint import htmx
from metacrm.ui.setup import METADATA, field_errors, setup_object, setup_route

SECOND_LANGUAGE = "zh_CN"  # the language whose label (or message) a form edits beside the default one


def rule_field_errors(exc: MetacrmError, member: str) -> dict[str, list[str]]:
    """A refusal's messages by the control they belong to; a rule-language
    error goes beside ``member`` (the condition, the statement) with its
    line and column in the reader's language."""
    if isinstance(exc, RuleError):
        text = _("Line %(line)d, column %(column)d: %(reason)s", line=exc.line, column=exc.column, reason=exc.reason)
        return {member: [text]}
    errors = field_errors(exc)
    # The change pipeline names a definition's member as "<kind>:<key>.<member>".
    renamed: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if ":" in name:
            parts = name.split(":", 1)[1].split(".", 2)
            name = parts[2] if len(parts) == 3 else "$"
        renamed.setdefault(name, []).extend(messages)
    return renamed


def indexed_field_errors(exc: MetacrmError, member: str) -> dict[str, list[str]]:
    """:func:`rule_field_errors` for forms whose controls name list items by
    position (``steps.0.name``): schema paths say ``steps[0].name``, a kind's
    own checks ``steps.0.name``; both become the control's name."""
    errors: dict[str, list[str]] = {}
    for name, messages in rule_field_errors(exc, member).items():
        errors.setdefault(re.sub(r"\[(\d+)\]", r".\1", name), []).extend(messages)
    return errors


def set_text_members(document: dict, form: MultiDict, members: tuple[str, ...]) -> None:
    """Copy the form's optional text ``members`` into the definition, dropping each left empty."""
    for member in members:
        value = form.get(member, "").strip()
        if value:
            document[member] = value
        else:
            document.pop(member, None)


def second_language_text(document: dict, member: str) -> str:
    """The definition's ``member`` in :data:`SECOND_LANGUAGE`, for the form's second box."""
    return ((document.get("translations") or {}).get(SECOND_LANGUAGE) or {}).get(member, "")


def set_second_language_text(document: dict, member: str, text: str) -> None:
    """Put the form's second-language ``member`` into the definition's
    translations (dropping it when empty), keeping the other translations."""
    translations = {k: dict(v) for k, v in (document.get("translations") or {}).items()}
    if text:
        translations.setdefault(SECOND_LANGUAGE, {})[member] = text
    else:
        translations.get(SECOND_LANGUAGE, {}).pop(member, None)
    translations = {k: v for k, v in translations.items() if v}
    if translations:
        document["translations"] = translations
    else:
        document.pop("translations", None)


class ObjectDefinitionScreen:
    """The list, new, edit, switch and delete screens of one object-scoped
    definition kind. A subclass sets the class attributes and implements
    :meth:`form_document`, :meth:`documents`, :meth:`find` and the two
    messages — or, where a module of its own already reads and writes the
    kind (validation rules), overrides :meth:`document`, :meth:`save` and
    :meth:`delete` instead of :meth:`find`. It overrides :meth:`check`,
    :meth:`form_context`, :meth:`row_context` and :meth:`field_errors` where
    its kind has more to say."""

    kind: str  # the definition kind ("duplicate_rule")
    segment: str  # the URL segment under the object ("duplicate-rules")
    list_endpoint: str  # "setup_duplicate_rules"; the new form is "<endpoint>_new"
    endpoint: str  # one definition's form: "setup_duplicate_rule"
    templates: str  # the folder of its list.html, form.html and _row.html
    item_name: str  # what the templates call one definition ("rule")
    items_name: str  # and the list of them ("rules")
    noun: str  # in change descriptions and error messages ("duplicate rule")
    article: str = "a"  # before the noun ("an approval process")
    rule_member: str  # the control a rule-language error goes beside ("conditions")
    blank: dict = {"active": True}  # a new definition, as the empty form shows it

    # -- what each kind says itself --------------------------------------------------------------------

    def form_document(self, form: MultiDict, existing: dict | None) -> dict:
        """The definition as the form posts it, over what the form does not edit."""
        raise NotImplementedError

    def find(self, object_name: str, item: str) -> dict | None:
        """The stored definition ``item`` of the object, if any."""
        raise NotImplementedError

    def documents(self, object_name: str) -> list[dict]:
        """The object's definitions of the kind, active or not, in list order."""
        raise NotImplementedError

    def saved_message(self, name: str) -> str:
        raise NotImplementedError

    def deleted_message(self, name: str) -> str:
        raise NotImplementedError

    def form_context(self, obj: CompiledObject, document: dict) -> dict:
        """What the form template needs besides the definition (choices, rows)."""
        return {}

    def row_context(self, obj: CompiledObject) -> dict:
        """What the list and its rows need besides the definitions (labels)."""
        return {}

    def field_errors(self, exc: MetacrmError) -> dict[str, list[str]]:
        """A refusal's messages by the form control they belong to."""
        return indexed_field_errors(exc, self.rule_member)

    def check(self, object_name: str, document: dict) -> None:
        """The kind's own refusals before the change pipeline's (ValidationFailed naming the control)."""

    # -- reading and writing through the change pipeline ------------------------------------------------

    def document(self, object_name: str, item: str) -> dict:
        """The stored definition ``item`` of the object; 404 when there is none."""
        document = self.find(object_name, item)
        if document is None:
            raise NotFound(f"no {self.noun} {item!r} on {object_name}")
        return document

    def save(self, object_name: str, document: dict, *, creating: bool) -> None:
        """Store the definition (a new one must not take a name in use)."""
        if creating and self.find(object_name, document.get("api_name", "")) is not None:
            raise Conflict(
                f"{object_name} already has {self.article} {self.noun} {document['api_name']!r}",
                details={"fields": {"api_name": [_("This API name is taken on this object.")]}},
            )
        self.check(object_name, document)
        with context.metadata_service().change(f"save {self.noun} {object_name}.{document['api_name']}") as tx:
            tx.put(self.kind, object_name, document)

    def delete(self, object_name: str, item: str) -> None:
        with context.metadata_service().change(f"delete {self.noun} {object_name}.{item}") as tx:
            tx.delete(self.kind, object_name, item)

    # -- the screens -------------------------------------------------------------------------------------

    def register(self) -> None:
        """Declare the kind's three routes, each behind the manage-metadata right."""
        base = f"/setup/objects/<object>/{self.segment}"
        setup_route(base, METADATA, endpoint=self.list_endpoint)(self.list_view)
        setup_route(f"{base}/new", METADATA, methods=["GET", "POST"], endpoint=f"{self.endpoint}_new")(self.new_view)
        setup_route(f"{base}/<item>", METADATA, methods=["GET", "POST"], endpoint=self.endpoint)(self.item_view)

    def _list_url(self, object_name: str) -> str:
        return url_for(f"ui.{self.list_endpoint}", object=object_name)

    def render_form(self, obj: CompiledObject, document: dict, *, creating: bool, errors=None, status: int = 200):
        return (
            render_template(
                f"{self.templates}/form.html",
                obj=obj,
                object_name=obj.api_name,
                creating=creating,
                errors=errors or {},
                section="ui.setup_objects",
                tab=f"ui.{self.list_endpoint}",
                **{self.item_name: document},
                **self.form_context(obj, document),
            ),
            status,
        )

    def list_view(self, object):
        """The object's definitions of the kind, each with its on/off switch."""
        obj = setup_object(object)
        return render_template(
            f"{self.templates}/list.html",
            obj=obj,
            object_name=object,
            section="ui.setup_objects",
            tab=f"ui.{self.list_endpoint}",
            **{self.items_name: self.documents(object)},
            **self.row_context(obj),
        )

    def new_view(self, object):
        """A new definition; saved, back to the list."""
        obj = setup_object(object)
        if request.method == "GET":
            return self.render_form(obj, dict(self.blank), creating=True)
        document = self.form_document(request.form, None)
        try:
            self.save(object, document, creating=True)
        except MetacrmError as exc:
            return self.render_form(obj, document, creating=True, errors=self.field_errors(exc), status=422)
        flash(self.saved_message(document["api_name"]), "success")
        return redirect(self._list_url(object))

    def item_view(self, object, item):
        """Edit a definition (``action=save``), switch it on or off
        (``action=active`` with ``active=1|0``; htmx gets the list's row back)
        or delete it (``action=delete``)."""
        obj = setup_object(object)
        existing = self.document(object, item)
        if request.method == "GET":
            return self.render_form(obj, existing, creating=False)
        action = request.form.get("action", "save")
        if action == "delete":
            self.delete(object, item)
            flash(self.deleted_message(item), "success")
            return redirect(self._list_url(object))
        if action == "active":
            document = {**existing, "active": "1" in request.form.getlist("active")}
            try:
                self.save(object, document, creating=False)
            except MetacrmError as exc:  # e.g. it names a field deleted since: the form says where
                if htmx:
                    return "", 200, {"HX-Redirect": url_for(f"ui.{self.endpoint}", object=object, item=item)}
                return self.render_form(obj, existing, creating=False, errors=self.field_errors(exc), status=422)
            if htmx:
                return render_template(
                    f"{self.templates}/_row.html",
                    object_name=object,
                    **{self.item_name: document},
                    **self.row_context(obj),
                )
            return redirect(self._list_url(object))
        document = self.form_document(request.form, existing)
        try:
            self.save(object, document, creating=False)
        except MetacrmError as exc:
            return self.render_form(obj, document, creating=False, errors=self.field_errors(exc), status=422)
        flash(self.saved_message(item), "success")
        return redirect(self._list_url(object))
