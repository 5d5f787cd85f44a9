"""The sales forecast: opportunities closing in a period, summed by forecast
category per owner or team in SQL, against the owners' quotas.

Everything runs through the viewer's guard: the opportunities and quotas are
those the viewer may read (a rep sees their own, a manager their team's, as
the record scopes say), and the amounts, close dates and stages must be
fields the viewer may read, or the forecast is refused (403 naming the field)
rather than summing what the viewer may not see.

Categories: an opportunity counts as **closed** (won) when its stage is
``closed_won`` and is left out when it is ``closed_lost``, whatever its
forecast category says; an open one counts in its ``forecast_category``
(``pipeline``, ``best_case``, ``commit``; ``omitted`` leaves it out) or,
when that is empty, in the category its stage implies (:data:`STAGE_CATEGORY`).
Each amount is the sum of that category alone, not a cumulative roll-up.

Periods: ``2026-11`` is a calendar month; ``2026-Q4`` a fiscal quarter. The
fiscal year starts in the tenant's ``fiscal_year_start`` month and is named
by the calendar year it ends in, as the report engine's fiscal groupings
(and Salesforce) name it: with 4, 2027-Q1 is April–June 2026 and 2027-Q4
January–March 2027; with 1 (the default) quarters are calendar quarters.

Quotas (crm_core's ``quota`` object) are for their owner. A quarter's quota
of a user is their quarterly quota starting on the quarter's first day, or,
when they have none, the sum of their monthly quotas in the quarter; a
month's is their monthly quota for that month.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from metacrm.access.tables import team_members
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed

OPPORTUNITY = "opportunity"
QUOTA = "quota"
CATEGORIES = ("pipeline", "best_case", "commit", "closed")
# The category an open opportunity without a forecast category counts in.
STAGE_CATEGORY = {
    "prospecting": "pipeline",
    "qualification": "pipeline",
    "proposal": "best_case",
    "negotiation": "commit",
    "closed_won": "closed",
    "closed_lost": "omitted",
}
GROUPINGS = ("owner", "team")
NO_TEAM = ""
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Period:
    """A half-open date range ``[start, end)`` with its name (``2026-Q4``, ``2026-11``)."""

    name: str
    kind: str  # "month" or "quarter"
    start: dt.date
    end: dt.date

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def shifted(self, steps: int, fiscal_year_start: int) -> Period:
        """The period ``steps`` months or quarters later (earlier when negative)."""
        if self.kind == "month":
            start = _add_months(self.start, steps)
            return month_period(start.year, start.month)
        year, quarter = _fiscal_quarter_of(self.start, fiscal_year_start)
        index = year * 4 + quarter - 1 + steps
        return quarter_period(index // 4, index % 4 + 1, fiscal_year_start)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_period(year: int, month: int) -> Period:
    start = dt.date(year, month, 1)
    return Period(f"{year:04d}-{month:02d}", "month", start, _add_months(start, 1))


def quarter_period(fiscal_year: int, quarter: int, fiscal_year_start: int = 1) -> Period:
    first_year = fiscal_year if fiscal_year_start == 1 else fiscal_year - 1
    start = _add_months(dt.date(first_year, fiscal_year_start, 1), 3 * (quarter - 1))
    return Period(f"{fiscal_year:04d}-Q{quarter}", "quarter", start, _add_months(start, 3))


def _fiscal_quarter_of(day: dt.date, fiscal_year_start: int) -> tuple[int, int]:
    """(fiscal year, quarter) a day falls in."""
    months = (day.month - fiscal_year_start) % 12
    first_year = day.year if day.month >= fiscal_year_start else day.year - 1
    return (first_year if fiscal_year_start == 1 else first_year + 1), months // 3 + 1


PERIOD_PATTERN = re.compile(r"^(\d{4})-(?:Q([1-4])|(0[1-9]|1[0-2]))$")


def parse_period(text: str | None, fiscal_year_start: int = 1, *, today: dt.date | None = None) -> Period:
    """``2026-Q4`` or ``2026-11``; empty means today's fiscal quarter. A
    malformed name is a 422 naming the ``period`` parameter."""
    if not text:
        year, quarter = _fiscal_quarter_of(today or dt.date.today(), fiscal_year_start)
        return quarter_period(year, quarter, fiscal_year_start)
    match = PERIOD_PATTERN.match(text.strip())
    if not match:
        raise ValidationFailed(
            f"period {text!r} is not a quarter like 2026-Q4 or a month like 2026-11",
            details={"fields": {"period": ["a quarter like 2026-Q4 or a month like 2026-11"]}},
        )
    year = int(match.group(1))
    if match.group(2):
        return quarter_period(year, int(match.group(2)), fiscal_year_start)
    return month_period(year, int(match.group(3)))


@dataclass
class Row:
    key: Any  # the owner's user id, or the team's api name ("" for owners in no team)
    label: str
    amounts: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, ZERO))
    quota: Decimal | None = None

    @property
    def attainment(self) -> Decimal | None:
        """Closed won as a percentage of the quota (one decimal), None without a quota."""
        if not self.quota:
            return None
        return (self.amounts["closed"] * 100 / self.quota).quantize(Decimal("0.1"))

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            **{name: self.amounts[name] for name in CATEGORIES},
            "quota": self.quota,
            "attainment": self.attainment,
        }


@dataclass
class Forecast:
    period: Period
    by: str
    rows: list[Row]
    total: Row
    quotas_visible: bool

    def as_json(self) -> dict:
        return {
            "period": {
                "name": self.period.name,
                "type": self.period.kind,
                "start": self.period.start.isoformat(),
                "end": self.period.last_day.isoformat(),
            },
            "by": self.by,
            "categories": list(CATEGORIES),
            "rows": [row.as_json() for row in self.rows],
            "total": self.total.as_json(),
            "quotas_visible": self.quotas_visible,
        }


def _readable(store, obj: CompiledObject, names: list[str]) -> None:
    """Refuse (403 naming the field) when the viewer may not read a field the forecast sums or groups by."""
    readable = store.guard.readable_fields(obj)
    for name in names:
        if name not in obj.fields:
            raise NotFound(f"{obj.api_name} has no field {name!r}; the forecast needs it")
        if name not in readable:
            raise Forbidden(
                f"the forecast needs {obj.api_name}.{name}, which you may not read",
                details={"object": obj.api_name, "field": name},
            )


def _scope(store, obj: CompiledObject):
    """Live records of ``obj`` the viewer may read: the guard's one SQL clause."""
    table = obj.table
    clauses = [table.c.deleted_at.is_(None)]
    scope = store.guard.scope("read", obj)
    if scope is not None:
        clauses.append(scope)
    return sa.and_(*clauses)


def category_expression(obj: CompiledObject, *, use_forecast_category: bool = True):
    """The SQL CASE giving an opportunity's forecast category (see the module)."""
    table = obj.table
    stage = table.c.stage
    by_stage = sa.case(
        *[(stage == value, sa.literal(category)) for value, category in STAGE_CATEGORY.items()],
        else_=sa.literal("pipeline"),
    )
    if not use_forecast_category:
        return by_stage
    return sa.case(
        (stage == "closed_won", sa.literal("closed")),
        (stage == "closed_lost", sa.literal("omitted")),
        (table.c.forecast_category.is_not(None), table.c.forecast_category),
        else_=by_stage,
    )


def opportunity_query(store, period: Period, by: str = "owner"):
    """The SELECT of (group key, category, amount sum) for a period, scoped to the viewer."""
    obj = store.object(OPPORTUNITY)
    store.guard.require("read", obj)
    _readable(store, obj, ["amount", "close_date", "stage"])
    use_category = "forecast_category" in obj.fields and "forecast_category" in store.guard.readable_fields(obj)
    table = obj.table
    category = category_expression(obj, use_forecast_category=use_category).label("category")
    where = [_scope(store, obj), table.c.close_date >= period.start, table.c.close_date < period.end]
    if by == "team":
        key = sa.func.coalesce(team_members.c.team, NO_TEAM).label("key")
        source = table.outerjoin(team_members, team_members.c.user_id == table.c.owner_id)
    else:
        key = table.c.owner_id.label("key")
        source = table
    inner = sa.select(key, category, table.c.amount).select_from(source).where(*where).subquery("o")
    return sa.select(inner.c.key, inner.c.category, sa.func.coalesce(sa.func.sum(inner.c.amount), 0)).group_by(
        inner.c.key, inner.c.category
    )


def _quotas(store, conn, period: Period, by: str) -> tuple[dict[Any, Decimal], bool]:
    """key → quota of the period, from the quotas the viewer may read; and
    whether quotas could be read at all (object permission and fields)."""
    obj = store.model.object(QUOTA)
    if obj is None or not store.guard.permits("read", obj):
        return {}, False
    needed = {"amount", "period_type", "period_start"}
    if not needed <= set(obj.fields) or not needed <= store.guard.readable_fields(obj):
        return {}, False
    table = obj.table
    rows = conn.execute(
        sa.select(table.c.owner_id, table.c.period_type, sa.func.sum(table.c.amount))
        .where(
            _scope(store, obj),
            table.c.period_start >= period.start,
            table.c.period_start < period.end,
            table.c.period_type.in_(["month", period.kind]),
            # a quarter's own quota starts on its first day
            sa.or_(table.c.period_type == "month", table.c.period_start == period.start),
        )
        .group_by(table.c.owner_id, table.c.period_type)
    ).all()
    by_owner: dict[int, dict[str, Decimal]] = {}
    for owner_id, kind, amount in rows:
        by_owner.setdefault(owner_id, {})[kind] = _decimal(amount)
    per_owner = {
        owner: kinds.get(period.kind, kinds.get("month")) if period.kind == "quarter" else kinds.get("month")
        for owner, kinds in by_owner.items()
    }
    per_owner = {owner: amount for owner, amount in per_owner.items() if amount is not None}
    if by == "owner":
        return per_owner, True
    teams: dict[Any, Decimal] = {}
    if per_owner:
        memberships = conn.execute(
            sa.select(team_members.c.user_id, team_members.c.team).where(team_members.c.user_id.in_(list(per_owner)))
        ).all()
        member_teams: dict[int, list[str]] = {}
        for user_id, team in memberships:
            member_teams.setdefault(user_id, []).append(team)
        for owner, amount in per_owner.items():
            for team in member_teams.get(owner, [NO_TEAM]):
                teams[team] = teams.get(team, ZERO) + amount
    return teams, True


def _decimal(value: Any) -> Decimal:
    if value is None:
        return ZERO
    return Decimal(str(value)).quantize(Decimal("0.01"))


def forecast(
    store,
    period: Period,
    *,
    by: str = "owner",
    names: dict[int, str] | None = None,
    team_labels: dict[str, str] | None = None,
    no_team_label: str = "No team",
) -> Forecast:
    """The forecast of ``period`` grouped ``by`` owner or team, within the
    viewer's scope (``store`` is the viewer's record store). ``names`` maps
    user ids to what to show for them, ``team_labels`` team api names to labels."""
    if by not in GROUPINGS:
        raise ValidationFailed(f"by must be owner or team, not {by!r}", details={"fields": {"by": ["owner or team"]}})
    query = opportunity_query(store, period, by)
    names = names or {}
    team_labels = team_labels or {}
    rows: dict[Any, Row] = {}

    def row_for(key) -> Row:
        if key not in rows:
            if by == "owner":
                label = names.get(key) or (f"#{key}" if key is not None else "—")
            else:
                label = team_labels.get(key, key) if key != NO_TEAM else no_team_label
            rows[key] = Row(key, label)
        return rows[key]

    with store.binding.connect() as conn:
        for key, category, amount in conn.execute(query):
            if category in CATEGORIES:
                row = row_for(key)
                row.amounts[category] += _decimal(amount)
            else:
                row_for(key)  # omitted deals still show their owner
        quotas, quotas_visible = _quotas(store, conn, period, by)
    for key, amount in quotas.items():
        row_for(key).quota = amount
    ordered = sorted(rows.values(), key=lambda r: (r.key == NO_TEAM, r.label.casefold(), str(r.key)))
    total = Row("total", "Total")
    for row in ordered:
        for name in CATEGORIES:
            total.amounts[name] += row.amounts[name]
    if by == "team":  # the total counts an owner in two teams once
        total.amounts = _owner_totals(store, period)
    if quotas_visible:
        total.quota = sum(_owner_quotas(store, period), ZERO) if by == "team" else sum(quotas.values(), ZERO)
    return Forecast(period, by, ordered, total, quotas_visible)


def _owner_quotas(store, period: Period) -> list[Decimal]:
    with store.binding.connect() as conn:
        quotas, _ = _quotas(store, conn, period, "owner")
    return list(quotas.values())


def _owner_totals(store, period: Period) -> dict[str, Decimal]:
    query = opportunity_query(store, period, "owner")
    totals = dict.fromkeys(CATEGORIES, ZERO)
    with store.binding.connect() as conn:
        for _key, category, amount in conn.execute(query):
            if category in CATEGORIES:
                totals[category] += _decimal(amount)
    return totals


def viewer_forecast(
    store,
    instance,
    period_text: str | None,
    by: str | None = None,
    *,
    fiscal_year_start: int = 1,
    no_team_label: str = "No team",
) -> Forecast:
    """The forecast as the user of ``store`` (their record store) may see it,
    with members' names and team labels of the store's tenant."""
    from metacrm.access.members import tenant_members
    from metacrm.access.tables import teams

    period = parse_period(period_text, fiscal_year_start)
    binding = store.binding
    members = tenant_members(instance, binding)
    names = {user_id: row.get("display_name") or row["email"] for user_id, row in members.items()}
    with binding.connect() as conn:
        labels = dict(conn.execute(sa.select(teams.c.api_name, teams.c.label)).all())
    return forecast(store, period, by=by or "owner", names=names, team_labels=labels, no_team_label=no_team_label)
