"""Tables automation keeps in every tenant namespace (Alembic branch
``rules``, metacrm/rules/migrations).

* ``automation_runs`` — the run log: one row per rule run on one record.
* ``automation_outbox`` — work that leaves the transaction (e-mail,
  webhooks, slow plugin actions): written with the record, delivered by a
  job after commit, retried by a periodic job; never lost.
* ``notifications`` — in-app notifications of NOTIFY actions.
* ``automation_rotation`` — where each round-robin rotation stands.
* ``automation_schedule`` — which scheduled runs already happened.
* ``automation_secrets`` — the signing secret of each webhook rule.
"""

from __future__ import annotations

import sqlalchemy as sa

rules_tables = sa.MetaData()
TZ = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

automation_runs = sa.Table(
    "automation_runs",
    rules_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(130), nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("trigger", sa.String(30), nullable=False),
    sa.Column("result", sa.String(10), nullable=False),  # ok, skipped, error
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("at", TZ, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
)

automation_outbox = sa.Table(
    "automation_outbox",
    rules_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),  # email, webhook, call
    sa.Column("rule", sa.String(130), nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    # pending → delivered | undelivered (no SMTP configured) | failed (out of attempts)
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", TZ, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("delivered_at", TZ, nullable=True),
)

notifications = sa.Table(
    "notifications",
    rules_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("rule", sa.String(130), nullable=True),
    sa.Column("object", sa.String(63), nullable=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("read_at", TZ, nullable=True),
)

automation_rotation = sa.Table(
    "automation_rotation",
    rules_tables,
    sa.Column("rotation", sa.String(200), primary_key=True),  # "<rule>:<team>"
    sa.Column("last_user_id", sa.Integer, nullable=True),
    sa.Column("updated_at", TZ, nullable=False),
)

automation_schedule = sa.Table(
    "automation_schedule",
    rules_tables,
    sa.Column("rule", sa.String(130), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("due_at", TZ, primary_key=True),
    sa.Column("ran_at", TZ, nullable=False),
)

automation_secrets = sa.Table(
    "automation_secrets",
    rules_tables,
    sa.Column("rule", sa.String(130), primary_key=True),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("created_at", TZ, nullable=False),
)
