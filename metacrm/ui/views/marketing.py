"""Marketing screens (docs/marketing.md).

Public, without sign-in — each names its tenant in a signed token or in
the URL of a form, and exposes nothing else:

* ``/f/<tenant>/<form>`` — a web-to-lead form (GET shows it, POST creates
  the record through the save pipeline; honeypot, per-IP limit, size limit).
  No CSRF token: a company's own web page may post to it.
* ``/m/o/<token>`` — the open pixel (a 1×1 GIF, whatever the token);
* ``/m/c/<token>`` — a tracked link: counts the click, then redirects to the
  URL signed into the token (and nowhere else);
* ``/m/u/<token>`` — unsubscribe: GET asks, POST (also RFC 8058's one-click
  POST from the mail client) opts the recipient out.

Signed in: ``/marketing/campaigns/<id>/mass-email`` — choose a template and
optionally a segment, preview the message and the recipient count, send.
"""

from __future__ import annotations

import base64
from contextlib import suppress

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext

from metacrm.data.marketing import service
from metacrm.metadata.model import model_for
from metacrm.platform.errors import MetacrmError, NotFound, TooManyRequests
from metacrm.platform.web import client_ip, public
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.record_form import posted_value
from metacrm.ui.setup import field_errors

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Why members were left out of a mailing (the service's codes).
SKIP_REASONS = {
    "unsubscribed": lazy_gettext("unsubscribed"),
    "opted_out": lazy_gettext("opted out of e-mail"),
    "no_address": lazy_gettext("no e-mail address"),
    "not_readable": lazy_gettext("lead or contact you may not see"),
}
PUBLIC_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _instance():
    return current_app.extensions["metacrm"]


# -- the public web-to-lead form ---------------------------------------------------------------


class FormField:
    """A field as one form asks for it: the field type's widget, with the
    form's label and required flag instead of the field's own."""

    def __init__(self, field_type, item: dict):
        self._field = field_type
        own = field_type.definition.get("translations") or {}
        asked = item.get("translations") or {}
        translations = {}
        for language in {*own, *asked}:
            # The form's translation; else, unless the form relabelled the field, the field's own.
            label = (asked.get(language) or {}).get("label") or (
                None if item.get("label") else (own.get(language) or {}).get("label")
            )
            if label:
                translations[language] = {"label": label}
        self.definition = {
            "label": item.get("label") or field_type.definition.get("label"),
            "translations": translations,
        }
        self.required = bool(item.get("required"))
        self.read_only = False

    def __getattr__(self, name):
        return getattr(self._field, name)


def _form_or_404(tenant: str, name: str):
    try:
        return service.web_form(_instance(), tenant, name)
    except NotFound:
        raise
    except Exception:  # noqa: BLE001 - a malformed or unknown organisation is an unknown form
        raise NotFound("no such form") from None


@blueprint.route("/f/<tenant>/<form_name>", methods=["GET", "POST"])
@public(csrf_exempt=True)
def web_form(tenant, form_name):
    """A public web-to-lead form: its fields, labels and thank-you text come from its definition."""
    instance = _instance()
    binding, form = _form_or_404(tenant, form_name)
    obj = model_for(instance, binding).object(form["object"])
    fields = [FormField(obj.fields[item["field"]], item) for item in form["fields"] if item["field"] in obj.fields]
    errors: dict[str, list[str]] = {}
    values: dict = {}
    status = 200
    if request.method == "POST":
        request.max_content_length = int(instance.config.get("WEB_FORM_MAX_BYTES") or 16384)
        try:
            service.admit_form_post(
                instance, binding, form_name, client_ip(), honeypot_filled=bool(request.form.get(service.HONEYPOT))
            )
        except TooManyRequests as exc:
            page = render_template("marketing/limited.html")
            return page, 429, {**PUBLIC_HEADERS, "Retry-After": str(exc.retry_after)}
        for field in fields:
            try:
                values[field.api_name] = posted_value(field._field, request.form)
            except ValueError as exc:
                errors[field.api_name] = [str(exc)]
        if not errors:
            try:
                service.submit_form(service.form_store(instance, binding, form_name), form, values)
            except MetacrmError as exc:
                asked = {field.api_name for field in fields}
                errors = {k: v for k, v in field_errors(exc).items() if k in asked} or {
                    "$": [_("The form could not be sent. Check what you entered and try again.")]
                }
            else:
                page = render_template("marketing/thanks.html", form=form, label_of=label_of)
                return page, 200, PUBLIC_HEADERS
        status = 422
    page = render_template(
        "marketing/form.html",
        form=form,
        fields=fields,
        values=values,
        errors=errors,
        honeypot=service.HONEYPOT,
        action=url_for("ui.web_form", tenant=tenant, form_name=form_name),
        label_of=label_of,
    )
    return page, status, PUBLIC_HEADERS


# -- tracking and unsubscribe -----------------------------------------------------------------


@blueprint.get("/m/o/<token>")
@public
def track_open(token):
    """The open pixel: a transparent GIF, counted when the token is genuine."""
    with suppress(NotFound):  # the same image either way: a pixel tells nothing about a token
        service.track_open(_instance(), token)
    return PIXEL, 200, {"Content-Type": "image/gif", **PUBLIC_HEADERS}


@blueprint.get("/m/c/<token>")
@public
def track_click(token):
    """A tracked link: count the click, go to the URL the e-mail linked."""
    return redirect(service.track_click(_instance(), token), 302), 302, PUBLIC_HEADERS


@blueprint.route("/m/u/<token>", methods=["GET", "POST"])
@public(csrf_exempt=True)
def unsubscribe(token):
    """Unsubscribe from a campaign's e-mail: GET asks (link scanners open
    links), POST does it (the button, or the mail client's one-click POST)."""
    instance = _instance()
    if request.method == "POST":
        target = service.unsubscribe(instance, token)
        return render_template("marketing/unsubscribe.html", done=True, **target), 200, PUBLIC_HEADERS
    target = service.unsubscribe_target(instance, token)
    return render_template("marketing/unsubscribe.html", done=False, token=token, **target), 200, PUBLIC_HEADERS


# -- mass e-mail (signed in) --------------------------------------------------------------------


def _choices():
    definitions = context.model().definitions
    templates = [
        (d.document["api_name"], label_of(d.document, "label", d.document["api_name"]))
        for d in definitions.live("email_template")
    ]
    segments = []
    for definition in definitions.live("segment"):
        object_name = definition.key.split(".", 1)[0]
        obj = context.model().object(object_name)
        if obj is not None and context.guard().permits("read", obj):
            plural = label_of(obj.definition, "plural_label", object_name)
            segments.append((definition.key, f"{plural}: {label_of(definition.document, 'label', definition.key)}"))
    return templates, segments


def _segment_arguments(key: str | None) -> dict:
    if not key:
        return {}
    object_name, _sep, name = key.partition(".")
    return {"segment_object": object_name, "segment_name": name}


@blueprint.route("/marketing/campaigns/<int:campaign_id>/mass-email", methods=["GET", "POST"])
def mass_email(campaign_id):
    """Send a campaign's e-mail: template, optional segment, preview with the recipient count, send."""
    store = context.store()
    campaign = store.get("campaign", campaign_id, action="update")
    templates, segments = _choices()
    chosen = {"template": request.values.get("template") or "", "segment": request.values.get("segment") or ""}
    errors: dict[str, list[str]] = {}
    preview = None
    status = 200
    if request.method == "POST" or chosen["template"]:
        arguments = {
            "base_url": request.host_url,
            **_segment_arguments(chosen["segment"]),
            "preview": request.method == "GET" or request.form.get("action") != "send",
        }
        try:
            if not chosen["template"]:
                raise NotFound("choose a template", details={"fields": {"template": [_("Choose a template.")]}})
            result = service.mass_email(context.instance(), store, campaign_id, chosen["template"], **arguments)
        except MetacrmError as exc:
            errors, status = field_errors(exc), 422
        else:
            if not arguments["preview"]:
                queued = result["queued"]
                flash(
                    ngettext(
                        "%(num)s e-mail is queued in the outbox.", "%(num)s e-mails are queued in the outbox.", queued
                    ),
                    "success",
                )
                return redirect(f"/o/campaign/{campaign_id}", 303)
            preview = result
    page = render_template(
        "marketing/mass_email.html",
        campaign=campaign,
        obj=store.object("campaign"),
        templates=templates,
        segments=segments,
        chosen=chosen,
        preview=preview,
        errors=errors,
        skip_reasons=SKIP_REASONS,
    )
    return page, status
