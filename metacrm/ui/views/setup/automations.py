"""Automation rules (WHEN … IF … THEN …) with a dry run, the run log and the outbox.

* ``/setup/automations`` — every rule by object, with its order and a
  switch; ``/setup/automations/new`` and ``/setup/automations/<object>/<name>``
  — the form: the statement in the rule editor, checked as the admin types
  (the ``automation_rule`` checker below: the whole statement, with line and
  column); delete;
* ``…/<object>/<name>/dry-run`` — what the rule (as drafted in the editor)
  would do to a chosen record: fields set, records created or updated,
  notifications, e-mails and webhooks it would queue; the engine's dry run,
  always rolled back;
* ``/setup/automations/runs`` — the run log, filtered, paged by id;
* ``/setup/outbox`` — e-mails, webhooks and slow actions waiting, sent or
  failed; a failed one can be sent again. A webhook shows its address's
  origin only and never its signing secret.

Definitions change only through :mod:`metacrm.rules.automation.definitions`,
the change pipeline the REST API uses.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.platform import identity as identities
from metacrm.platform.errors import MetacrmError, NotFound, ValidationFailed
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.rules import RuleError
from metacrm.rules.automation import actions_of, compile_rule, runlog
from metacrm.rules.automation import definitions as automations
from metacrm.rules.automation.dryrun import dry_run
from metacrm.ui.blueprint import htmx
from metacrm.ui.i18n import label_of, select_time_zone
from metacrm.ui.setup import METADATA, setup_object, setup_route
from metacrm.ui.views.setup.home import RULE_CHECKERS
from metacrm.ui.views.setup.object_definitions import rule_field_errors

PAGE_SIZE = 50
MAX_ID = 2**63 - 1
RECENT_RECORDS = 10
DRAFT_NAME = "draft"  # the api_name a statement is checked under before it has one


# -- the live check of a whole statement ---------------------------------------------------------


def check_statement(model, object_name: str, text: str, form) -> None:
    """The rule editor's checker of ``use="automation_rule"``: parse and
    type-check a whole ``WHEN … IF … THEN …`` statement against the object,
    with the plugin actions the tenant may call; raises RuleError (line, column)."""
    actions = actions_of(context.instance(), model)
    compile_rule(model, object_name, {"api_name": DRAFT_NAME, "rule": text}, actions=actions)


RULE_CHECKERS["automation_rule"] = check_statement


# -- helpers -------------------------------------------------------------------------------------


def _objects() -> list[tuple[str, str]]:
    """Every object as (api_name, label), by label."""
    objects = context.model().objects.values()
    return sorted(
        ((obj.api_name, label_of(obj.definition, "label", obj.label)) for obj in objects),
        key=lambda pair: pair[1].casefold(),
    )


def _id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def _order(raw: str | None) -> int | str:
    raw = (raw or "").strip()
    if not raw:
        return automations.DEFAULT_ORDER
    try:
        return int(raw)
    except ValueError:
        return raw  # the schema refuses it beside the control


def _form_document(form, existing: dict | None) -> dict:
    """The rule as the form posts it (without ``object``), over what the form does not edit."""
    document = {k: v for k, v in (existing or {}).items() if k != "object"}
    if existing is None:
        document["api_name"] = form.get("api_name", "").strip()
    document["rule"] = form.get("rule", "").strip()
    document["order"] = _order(form.get("order"))
    document["active"] = "1" in form.getlist("active")
    for member in ("label", "description"):
        value = form.get(member, "").strip()
        if value:
            document[member] = value
        else:
            document.pop(member, None)
    return document


def _recent_records(object_name: str) -> list[tuple[int, str]]:
    """A few records to try a rule on, before the admin types a search."""
    obj = setup_object(object_name)
    readable = context.guard().readable_fields(obj)
    name_field = obj.name_field if obj.name_field in readable else None
    try:
        page = list_page(
            context.store(),
            object_name,
            ListRequest(limit=RECENT_RECORDS, fields=[name_field] if name_field else [], sort="-updated_at"),
        )
    except MetacrmError:
        return []
    return [(r["id"], (r.get(name_field) if name_field else None) or f"#{r['id']}") for r in page.data]


def _render_form(rule: dict, *, creating: bool, errors=None, status: int = 200, **extra):
    object_name = rule.get("object")
    obj = context.model().object(object_name) if object_name else None
    return (
        render_template(
            "setup/automations/form.html",
            rule=rule,
            obj=obj,
            object_name=object_name,
            objects=_objects(),
            creating=creating,
            errors=errors or {},
            recent=_recent_records(object_name) if obj is not None and not creating else [],
            section="ui.setup_automations",
            **extra,
        ),
        status,
    )


# -- the rules -----------------------------------------------------------------------------------


@setup_route("/setup/automations", METADATA)
def setup_automations():
    """Every automation rule, grouped by object (``?object=`` shows one)."""
    wanted = request.args.get("object") or None
    rules = automations.automations(context.model(), wanted)
    labels = dict(_objects())
    groups: dict[str, list[dict]] = {}
    for rule in sorted(
        rules, key=lambda r: (labels.get(r["object"], r["object"]).casefold(), r["order"], r["api_name"])
    ):
        groups.setdefault(rule["object"], []).append(rule)
    return render_template(
        "setup/automations/list.html",
        groups=groups,
        labels=labels,
        objects=_objects(),
        wanted=wanted,
        section="ui.setup_automations",
    )


@setup_route("/setup/automations/new", METADATA, methods=["GET", "POST"])
def setup_automation_new():
    """A new rule: first its object (``?object=``), then the statement."""
    if request.method == "GET":
        object_name = request.args.get("object") or None
        if object_name is not None:
            setup_object(object_name)
        rule = {"object": object_name, "active": True, "order": automations.DEFAULT_ORDER, "rule": ""}
        return _render_form(rule, creating=True)
    object_name = request.form.get("object", "")
    setup_object(object_name)
    document = _form_document(request.form, None)
    try:
        automations.save_automation(
            context.metadata_service(), context.instance(), context.model(), object_name, document, creating=True
        )
    except MetacrmError as exc:
        return _render_form(
            {**document, "object": object_name}, creating=True, errors=rule_field_errors(exc, "rule"), status=422
        )
    flash(_("Automation %(name)s saved. Try it on a record with a dry run.", name=document["api_name"]), "success")
    return redirect(url_for("ui.setup_automation", object=object_name, name=document["api_name"]))


@setup_route("/setup/automations/<object>/<name>", METADATA, methods=["GET", "POST"])
def setup_automation(object, name):
    """Edit a rule (``action=save``), switch it on or off (``action=active``
    with ``active=1|0``) or delete it (``action=delete``)."""
    existing = automations.automation(context.model(), object, name)
    if request.method == "GET":
        return _render_form(existing, creating=False)
    action = request.form.get("action", "save")
    service = context.metadata_service()
    if action == "delete":
        automations.delete_automation(service, context.model(), object, name)
        flash(_("Automation %(name)s deleted.", name=name), "success")
        return redirect(url_for("ui.setup_automations"))
    if action == "active":
        document = {k: v for k, v in existing.items() if k != "object"}
        document["active"] = "1" in request.form.getlist("active")
        try:
            automations.save_automation(service, context.instance(), context.model(), object, document, creating=False)
        except MetacrmError as exc:  # e.g. its statement names a field deleted since: the form says where
            if htmx:
                return "", 200, {"HX-Redirect": url_for("ui.setup_automation", object=object, name=name)}
            return _render_form(existing, creating=False, errors=rule_field_errors(exc, "rule"), status=422)
        if htmx:
            return render_template(
                "setup/automations/_row.html", rule={**document, "object": object}, labels=dict(_objects())
            )
        return redirect(url_for("ui.setup_automations"))
    document = _form_document(request.form, existing)
    try:
        automations.save_automation(service, context.instance(), context.model(), object, document, creating=False)
    except MetacrmError as exc:
        return _render_form(
            {**document, "object": object}, creating=False, errors=rule_field_errors(exc, "rule"), status=422
        )
    flash(_("Automation %(name)s saved.", name=name), "success")
    return redirect(url_for("ui.setup_automation", object=object, name=name))


# -- the dry run ---------------------------------------------------------------------------------


def _user_name(user_id) -> str:
    try:
        found = identities.identity_for(current_app.extensions["metacrm"], int(user_id), current_identity().tenant_slug)
    except (TypeError, ValueError):
        found = None
    return (found.display_name or found.email) if found else f"#{user_id}"


@setup_route("/setup/automations/<object>/<name>/dry-run", METADATA, methods=["POST"])
def setup_automation_dry_run(object, name):
    """What the rule as drafted in the editor (``rule``) would do to the
    chosen record (``record_id``); nothing is written. htmx gets the result
    panel; a plain post gets the form with it."""
    existing = automations.automation(context.model(), object, name)
    draft = request.form.get("rule", "").strip() or existing["rule"]
    document = {**{k: v for k, v in existing.items() if k != "object"}, "rule": draft}
    record_id = _id(request.form.get("record_id"))
    result, error = None, None
    if record_id is None:
        error = _("Choose a record to try the rule on.")
    else:
        try:
            result = dry_run(
                context.instance(), current_tenant(), context.store(), object, name, record_id, document=document
            )
        except RuleError as exc:
            error = _(
                "Line %(line)d, column %(column)d: %(reason)s", line=exc.line, column=exc.column, reason=exc.reason
            )
        except NotFound:
            error = _("There is no record #%(id)d you can see.", id=record_id)
        except ValidationFailed as exc:
            error = exc.message
    obj = setup_object(object)
    record_name = None
    if result is not None and obj.name_field and obj.name_field in context.guard().readable_fields(obj):
        record_name = context.store().get(object, record_id, fields=[obj.name_field]).get(obj.name_field)
    panel = {
        "record_name": record_name,
        "result": result,
        "error": error,
        "obj": obj,
        "model": context.model(),
        "user_name": _user_name,
        "record_id": record_id,
    }
    if htmx:
        return render_template("setup/automations/_dry_run.html", dry=panel), 200
    return _render_form({**existing, "rule": draft}, creating=False, dry=panel, status=200 if error is None else 422)


# -- the run log ---------------------------------------------------------------------------------


def _day(raw: str | None, field: str, errors: dict) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field] = [_("Enter a date like 2026-01-31.")]
        return None


def _moment(day: date) -> datetime:
    """Midnight of ``day`` in the user's time zone."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(select_time_zone()))


@setup_route("/setup/automations/runs", METADATA)
def setup_automation_runs():
    """The run log, newest first: filters by rule, object, record, result
    and dates (in the user's zone; both days included); ``before`` pages."""
    args = request.args
    errors: dict[str, list[str]] = {}
    filters = {
        "rule": (args.get("rule") or "").strip(),
        "object": (args.get("object") or "").strip(),
        "record": (args.get("record") or "").strip(),
        "result": (args.get("result") or "").strip(),
        "since": (args.get("since") or "").strip(),
        "until": (args.get("until") or "").strip(),
    }
    record_id = _id(filters["record"])
    if filters["record"] and record_id is None:
        errors["record"] = [_("Enter a record number.")]
    if filters["result"] and filters["result"] not in runlog.RESULTS:
        errors["result"] = [_("Choose a result from the list.")]
    since = _day(filters["since"], "since", errors)
    until = _day(filters["until"], "until", errors)
    page = runlog.Page([], None)
    if not errors:
        page = runlog.runs_page(
            current_tenant(),
            rule=filters["rule"] or None,
            object_name=filters["object"] or None,
            record_id=record_id,
            result=filters["result"] or None,
            since=_moment(since) if since else None,
            until=_moment(until + timedelta(days=1)) if until else None,
            before=_id(args.get("before")),
            limit=PAGE_SIZE,
        )
    rules = sorted(f"{r['object']}.{r['api_name']}" for r in automations.automations(context.model()))
    next_args = {k: v for k, v in filters.items() if v}
    status = 422 if errors else 200
    return (
        render_template(
            "setup/automations/runs.html",
            page=page,
            filters=filters,
            errors=errors,
            rule_options=[(key, key) for key in rules],
            result_options=[("ok", _("OK")), ("skipped", _("Skipped")), ("error", _("Error"))],
            objects=_objects(),
            labels=dict(_objects()),
            next_url=url_for("ui.setup_automation_runs", before=page.next_before, **next_args)
            if page.next_before
            else None,
            first_url=url_for("ui.setup_automation_runs", **next_args) if args.get("before") else None,
            section="ui.setup_automation_runs",
        ),
        status,
    )


# -- the outbox ----------------------------------------------------------------------------------


@setup_route("/setup/outbox", METADATA)
def setup_outbox():
    """What automations send: pending, delivered, undelivered (no mail
    server) and failed rows, newest first; ``status`` filters, ``before`` pages."""
    status = request.args.get("status") or ""
    if status not in runlog.OUTBOX_STATUSES:
        status = ""
    page = runlog.outbox_page(
        current_tenant(), status=status or None, before=_id(request.args.get("before")), limit=PAGE_SIZE
    )
    return render_template(
        "setup/automations/outbox.html",
        page=page,
        status=status,
        counts=runlog.outbox_counts(current_tenant()),
        labels=dict(_objects()),
        next_url=url_for("ui.setup_outbox", status=status or None, before=page.next_before)
        if page.next_before
        else None,
        section="ui.setup_outbox",
    )


@setup_route("/setup/outbox/<id>/retry", METADATA, methods=["POST"])
def setup_outbox_retry(id):
    """Send a failed or undelivered row again (back to pending, due now)."""
    row_id = _id(id)
    if row_id is None:
        raise NotFound(f"no outbox row {id!r}")
    try:
        runlog.retry_outbox(context.instance(), current_tenant(), current_actor(), row_id)
    except ValidationFailed as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Outbox item #%(id)d will be sent again.", id=row_id), "success")
    return redirect(url_for("ui.setup_outbox", status=request.form.get("status") or None))
