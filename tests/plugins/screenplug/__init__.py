"""A small tenant-scoped plugin for tests/plugins/test_screen_hooks.py: a
panel, a record action and a list action on ``ticket``, a dashboard widget, with its own
template and static file (found through this folder)."""

from __future__ import annotations

from metacrm.plugins import DashboardWidget, ListAction, RecordAction, RecordPanel, ValidationFailed, hookimpl


def _panel_context(store, record):
    # what a panel computes from the record (and may read with the user's store)
    return {"subject": record.get("subject"), "letters": len(record.get("subject") or "")}


def _escalate(store, record):
    if record.get("subject") == "locked":
        raise ValidationFailed("locked tickets cannot be escalated")
    store.update("ticket", record["id"], {"note": "escalated"})
    return f"Escalated {record['subject']}"


def _close_all(store, object_name, ids):
    for record_id in ids:
        store.update(object_name, record_id, {"note": "closed"})
    return f"Closed {len(ids)}"


class ScreenPlugin:
    @hookimpl
    def register_record_panels(self):
        title = {"en": "Ticket summary", "zh_CN": "工单摘要"}
        return [RecordPanel("ticket_summary", ("ticket",), title, "screenplug/panel.html", _panel_context)]

    @hookimpl
    def register_record_actions(self):
        return [RecordAction("escalate", ("ticket",), {"en": "Escalate", "zh_CN": "升级"}, _escalate)]

    @hookimpl
    def register_list_actions(self):
        return [ListAction("close_all", ("ticket",), "Close selected", _close_all)]

    @hookimpl
    def register_dashboard_widgets(self):
        return [DashboardWidget("banner", "Banner", "screenplug/banner.html", _banner)]


def _banner(store, definition):
    return {"text": definition["settings"]["text"]}
