"""``where=`` on record lists: a rule-language condition compiled to SQL.

The expression is parsed, type-checked for an SQL context against the live
model, and compiled to one SQLAlchemy clause the record store ANDs with the
guard's scope — no row is loaded to be filtered in Python. It may read only
fields the user can see. Lookup traversal (``Account.Industry``) is refused
here until record scopes also apply to the records a path passes through.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.physical import CompiledModel
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.identity import Identity
from metacrm.rules import BOOLEAN, CheckContext, SqlContext, UserGlobals, check, compile_sql, parse


def where_clause(
    model: CompiledModel, object_name: str, expression: str, readable: set[str], identity: Identity
) -> ColumnElement:
    typed = check(parse(expression), CheckContext(model, object_name, sql=True, purpose="a filter"), expect=BOOLEAN)
    for path in sorted(typed.references()):
        if len(path) > 1:
            raise ValidationFailed(
                f"where: {'.'.join(path)} reads another object; filter on fields of {object_name} "
                "(lookup traversal in filters is not supported yet)",
                details={"fields": {"where": [f"{'.'.join(path)}: lookup traversal is not supported in filters"]}},
            )
        if path[0] not in readable:
            raise ValidationFailed(
                f"where: no field {path[0]!r}", details={"fields": {"where": [f"no field {path[0]!r}"]}}
            )
    return compile_sql(typed, SqlContext(model, object_name, user=UserGlobals.from_identity(identity)))
