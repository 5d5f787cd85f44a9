"""The statement grammar: every trigger and action parses, keywords in any
case, errors name line and column, and the recipes of docs/automation.md parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metacrm.rules.automation import parse_statement
from metacrm.rules.errors import RuleError

DOC = Path(__file__).resolve().parents[3] / "docs" / "automation.md"


def test_the_brief_example_parses_exactly_as_written():
    statement = parse_statement(
        'WHEN updated IF ISCHANGED(status) AND ISPICKVAL(status, "sold") THEN SET sold_on = TODAY()'
    )
    assert statement.trigger.kind == "updated"
    assert statement.condition.name == "AND"
    (action,) = statement.actions
    assert action.kind == "set" and action.assignments[0].field == "sold_on"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("WHEN created THEN SET a = 1", "created"),
        ("when Created Or Updated then set a = 1", "created_or_updated"),
        ('WHEN deleted THEN WEBHOOK "https://x.test"', "deleted"),
        ('WHEN stage changed to "won" THEN SET a = 1', "changed"),
        ("WHEN 3 days after close_date THEN SET a = 1", "scheduled"),
        ('WHEN cron "0 8 * * *" IF a > 1 THEN SET a = 1', "cron"),
        ('WHEN approved THEN SET status = "approved"', "approved"),
        ("when Rejected if a > 1 then set a = 1", "rejected"),
    ],
)
def test_triggers(text, kind):
    assert parse_statement(text).trigger.kind == kind


def test_scheduled_offsets_are_signed_seconds():
    assert parse_statement("WHEN 2 hours before due_at THEN SET a = 1").trigger.offset_seconds == -7200
    assert parse_statement("WHEN 1 week after d THEN SET a = 1").trigger.offset_seconds == 7 * 86400


def test_every_action():
    statement = parse_statement(
        'WHEN updated THEN SET a = 1, b = name & "x"; CREATE task (subject = name, deal = id); '
        "UPDATE RELATED contact.account SET x = 1; UPDATE account SET y = 2; ASSIGN OWNER TO 5; "
        'ASSIGN OWNER ROUND ROBIN TEAM "north"; ASSIGN OWNER LEAST BUSY TEAM "south"; '
        'NOTIFY owner_id "hi {{name}}"; EMAIL $User.Email SUBJECT "s" BODY "b"; WEBHOOK "https://x.test"; '
        'RETURN TO POOL "stale"; RETURN TO POOL; CALL send_sms(phone, "x");'
    )
    assert [a.kind for a in statement.actions] == [
        "set", "create", "update_related", "update_parent", "assign_user", "round_robin", "least_busy",
        "notify", "email", "webhook", "return_to_pool", "return_to_pool", "call",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("WHEN foo THEN SET a = 1", "line 1, column 10", "expected CHANGED"),
        ("WHEN created THEN", "line 1, column 18", "SET"),
        ("WHEN created\nTHEN SET a > 1", "line 2, column 12", "expected '='"),
        ("WHEN created THEN SET a = 1 nonsense", "line 1, column 29", "';'"),
        ('WHEN created THEN NOTIFY owner_id "unclosed', "line 1, column 35", "no closing"),
        ("", "", "empty"),
    ],
)
def test_syntax_errors_name_line_and_column(text, where, says):
    with pytest.raises(RuleError) as caught:
        parse_statement(text)
    assert where in str(caught.value) and says in str(caught.value), str(caught.value)


def test_the_recipes_in_the_guide_parse():
    blocks = [b for b in re.findall(r"```\n(WHEN .*?)```", DOC.read_text(encoding="utf-8"), re.S) if "<" not in b]
    assert len(blocks) >= 6
    for block in blocks:
        parse_statement(block)
