"""Tables approvals keep in every tenant namespace (Alembic branch
``data_approvals``, migration ``ap0001`` in metacrm/data/migrations).

* ``approval_requests`` — one row per submission of a record to a process:
  its status (pending → approved | rejected | recalled) and current step;
* ``approval_tasks`` — the step decisions: one row per approver of each
  opened step (pending → approved | rejected, or ``closed`` when the step
  was decided without them), with the comment;
* ``approval_history`` — what happened, in order: submitted, step opened,
  approved, rejected, recalled, step skipped, completed.
"""

from __future__ import annotations

import sqlalchemy as sa

approval_tables = sa.MetaData()
TZ = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NAME = sa.String(63)

approval_requests = sa.Table(
    "approval_requests",
    approval_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("object", NAME, nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("process", NAME, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),  # index of the current (or last) step
    sa.Column("submitted_by", sa.Integer, nullable=False),
    sa.Column("submitted_at", TZ, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("decided_at", TZ, nullable=True),
)

approval_tasks = sa.Table(
    "approval_tasks",
    approval_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.BigInteger, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("decided_at", TZ, nullable=True),
)

approval_history = sa.Table(
    "approval_history",
    approval_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.BigInteger, nullable=False),
    sa.Column("at", TZ, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
)
