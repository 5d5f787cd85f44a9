"""Exports from the screens: ``/o/<object>/export?format=csv|xlsx&<the
list's parameters>`` (the list page's "Export" menu) downloads the list as
the user sees it (filters, search, sort, view, columns), within their scope
and field access; it needs the ``export`` right. A list longer than
``EXPORT_JOB_THRESHOLD`` rows is exported by a job: the user goes back to
the list with a message and gets a notification linking to
``/exports/<token>``, which only they can download.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from urllib.parse import urlencode

from flask import Response, flash, redirect, request, send_file, stream_with_context
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.data.exports import files, service
from metacrm.platform.clock import utcnow
from metacrm.platform.web import current_identity, current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import capped_total
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of, locale_name
from metacrm.ui.listing import listing
from metacrm.ui.screens import object_for

NOT_LIST_PARAMETERS = ("format", "cursor", "offset", "limit", "count")


def may_export(obj) -> bool:
    """Whether the list page offers its "Export" menu."""
    return context.guard().permits("export", obj)


def export_query(args) -> str:
    """The list's parameters to carry into an export link."""
    return urlencode([(k, v) for k, v in args.items(multi=True) if k not in NOT_LIST_PARAMETERS])


@blueprint.get("/o/<object>/export")
def export_list(object):
    obj = object_for(object)
    fmt = service.check_format(request.args.get("format"))
    store = context.store()
    service.require_export(store, obj.api_name)
    list_args = MultiDict([(k, v) for k, v in request.args.items(multi=True) if k not in NOT_LIST_PARAMETERS])
    current = listing(obj, list_args, page_size=service.PAGE_SIZE)
    list_request = replace(current.request, fields=[c.api_name for c in current.columns])
    locale = locale_name()
    plural = label_of(obj.definition, "plural_label", obj.label)
    beyond = capped_total(store, obj.api_name, list_request, files.job_threshold(context.instance()))[1]
    if beyond:
        arguments = [(k, v) for k, v in request.args.items(multi=True) if k not in NOT_LIST_PARAMETERS]
        if not request.args.get("fields"):
            arguments.append(("fields", ",".join(list_request.fields or [])))
        if current.request.view and not request.args.get("view"):
            arguments.append(("view", current.request.view))
        files.start(
            context.instance(),
            current_tenant().slug,
            current_identity().user_id,
            obj.api_name,
            arguments,
            fmt,
            locale,
            plural,
        )
        flash(
            _("The list is long: it is being exported in the background. You will be notified when the file is ready."),
            "success",
        )
        query = export_query(request.args)
        return redirect(f"/o/{obj.api_name}" + (f"?{query}" if query else ""))
    filename = service.file_name(obj, fmt, utcnow().date())
    if fmt == "xlsx":
        columns, rows = service.export_rows(store, obj.api_name, list_request, locale, typed=True)
        spooled = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (send_file closes it)
        service.write_xlsx(columns, rows, spooled, plural)
        spooled.seek(0)
        return send_file(spooled, mimetype=service.MIME_TYPES["xlsx"], as_attachment=True, download_name=filename)
    columns, rows = service.export_rows(store, obj.api_name, list_request, locale)
    return Response(
        stream_with_context(service.csv_chunks(columns, rows)),
        mimetype=service.MIME_TYPES["csv"],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blueprint.get("/exports/<token>")
def export_download(token):
    """A finished export's file, for the user who asked for it."""
    found = files.open_download(context.instance(), current_tenant().slug, current_identity().user_id, token)
    return send_file(
        found.path,
        mimetype=service.MIME_TYPES[found.meta["format"]],
        as_attachment=True,
        download_name=found.download_name,
    )


@blueprint.app_context_processor
def _export_helpers():
    return {"may_export": may_export}
