"""Alembic environment: runs on the connection (and inside the transaction)
that :mod:`metacrm.platform.migrations` hands over; never opens its own."""

from alembic import context

connection = context.config.attributes["connection"]
schema = context.config.attributes["schema"]

context.configure(
    connection=connection,
    version_table_schema=schema,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
