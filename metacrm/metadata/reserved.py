"""Names an admin may not give an object or a field.

SQL keywords reserved by PostgreSQL or SQLite (quoting would make them work,
but formulas, reports and hand-written SQL against our tables would trip on
them), the system columns of every object table, and words the API uses in
query strings.
"""

SQL_RESERVED = frozenset(
    """
    abort action add after all alter always analyze and any array as asc asymmetric attach autoincrement
    before begin between bigint binary both by cascade case cast check collate column commit conflict
    constraint create cross current current_catalog current_date current_role current_schema current_time
    current_timestamp current_user database default deferrable deferred delete desc detach distinct do
    drop each else end escape except exclude exclusive exists explain fail false fetch filter first following
    for foreign freeze from full glob grant group groups having if ignore ilike immediate in index indexed
    initially inner insert instead intersect into is isnull join key last lateral leading left like limit
    localtime localtimestamp match materialized natural no not nothing notnull null nulls of offset on only
    or order others outer over overlaps partition placing plan pragma preceding primary query raise range
    recursive references regexp reindex release rename replace restrict returning right rollback row rows
    savepoint select session_user similar some symmetric system_user table tablesample temp temporary then
    ties to trailing transaction trigger true unbounded union unique update user using vacuum values
    variadic verbose view virtual when where window with without
    """.split()
)

# Columns every table already has, hidden: PostgreSQL's system columns and
# SQLite's rowid aliases. A field of that name can't be created (PostgreSQL)
# or would read the hidden column instead of the field (SQLite).
DATABASE_SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid", "rowid", "_rowid_"})

SYSTEM_FIELDS = ("id", "owner_id", "created_at", "created_by", "updated_at", "updated_by", "version", "deleted_at")

PLATFORM_RESERVED = frozenset(
    {
        *SYSTEM_FIELDS,
        "owner",
        "q",
        "sort",
        "limit",
        "cursor",
        "offset",
        "fields",
        "where",
        "view",
        "count",
        "include_deleted",
        "deleted",
        "record",
        "records",
        "object",
        "objects",
        "meta",
        "data",
        "name_",
    }
)


OBJECT_RESERVED = frozenset({"meta", "data", "auth", "me", "audit", "openapi", "health", "access", "rules"})


def reserved_reason(api_name: str, *, kind: str = "field") -> str | None:
    """Why ``api_name`` can't be used, or None if it can.

    Field names become column names, so SQL keywords are refused. Object
    names only ever appear prefixed (table ``o_case``), so an object may be
    called ``case``; they must not clash with the API's own path words."""
    if kind == "object":
        if api_name in OBJECT_RESERVED or api_name.startswith(("pg_", "sqlite_", "meta_", "sys_")):
            return f"{api_name!r} is reserved by the platform"
        return None
    if api_name in SQL_RESERVED:
        return f"{api_name!r} is an SQL reserved word"
    if api_name in DATABASE_SYSTEM_COLUMNS:
        return f"{api_name!r} is a system column of the database"
    if api_name in PLATFORM_RESERVED:
        return f"{api_name!r} is reserved by the platform"
    if api_name.startswith(("pg_", "sqlite_", "meta_", "sys_")):
        return f"{api_name!r} uses a reserved prefix"
    return None
