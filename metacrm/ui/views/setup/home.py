"""The start of setup (``/setup``) and the rule editor's live check, which
every setup screen that takes an expression shares."""

from __future__ import annotations

from collections.abc import Callable

from flask import render_template, request

from metacrm.metadata.physical import CompiledModel
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.rules import RuleError
from metacrm.rules.saving import USES, typecheck, typecheck_default
from metacrm.ui.blueprint import blueprint
from metacrm.ui.setup import METADATA, may_setup, setup_navigation, setup_route


@blueprint.get("/setup")
def setup_home():
    """The setup start page: its sections as cards (403 without a setup right)."""
    if not may_setup():
        raise Forbidden("setup needs manage_metadata or manage_access")
    return render_template("setup/home.html", groups=setup_navigation())


setup_home.setup_right = "any"

# -- the rule editor's live check ------------------------------------------------------------------

# How each kind of rule text is checked: ``use`` -> fn(model, object, text, request.form) that raises
# RuleError (or ValidationFailed). A screen with its own language (automation statements) adds its checker.
Checker = Callable[[CompiledModel, str, str, dict], None]


def _expression_checker(use_name: str) -> Checker:
    def check(model, object_name, text, form):
        if use_name == "default" and form.get("field"):
            field_type = model.object(object_name).fields.get(form["field"])
            if field_type is not None:
                typecheck_default(model, object_name, field_type, text)
                return
        typecheck(model, object_name, text, USES[use_name])

    return check


RULE_CHECKERS: dict[str, Checker] = {name: _expression_checker(name) for name in USES}


@setup_route("/setup/objects/<object>/rule-check", METADATA, methods=["POST"])
def setup_rule_check(object):
    """The verdict on a rule editor's text (UI.md §1.3: the server checks as
    the admin types): line, column and reason of the first mistake, or the
    type of a valid expression. The editor names its use (validation,
    layout, filter, formula, default, automation, …) and the form member
    holding the text (``source``)."""
    model = context.model()
    if model.object(object) is None and model.definitions.object(object) is None:
        raise NotFound(f"no object {object!r}")
    use = request.form.get("use", "validation")
    checker = RULE_CHECKERS.get(use)
    if checker is None:
        raise ValidationFailed(f"no rule use {use!r}", details={"fields": {"use": ["unknown"]}})
    text = request.form.get(request.form.get("source", "expression"), "")
    error = None
    if text.strip():
        try:
            checker(model, object, text, request.form)
        except RuleError as exc:
            error = {"line": exc.line, "column": exc.column, "reason": exc.reason}
            error["snippet"] = (exc.details or {}).get("snippet", "")
        except ValidationFailed as exc:
            error = {"line": None, "column": None, "reason": exc.message, "snippet": ""}
    return render_template("setup/rule_check.html", text=text.strip(), error=error)
