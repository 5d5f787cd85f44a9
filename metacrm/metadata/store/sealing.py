"""Encrypted fields at rest: what the store writes and reads for them, and
the two rewrites of stored values — turning a field's encryption on or off
(the change pipeline) and re-encrypting under the newest key (``metacrm
keys rotate``).

A field marked ``encrypted`` keeps ``enc1:<key id>:<ciphertext>`` in its
column and a blind index (HMAC of the value) in ``sys_bi_<field>`` beside it
(:mod:`metacrm.platform.crypto`). The store seals values just before SQL and
opens them right after, so the save pipeline, rules and automations see
clear values while the database, its backups and tenant exports hold only
ciphertexts. Audit entries never hold an encrypted field's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledModel, bare_table
from metacrm.platform.crypto import PREFIX, KeyRing
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import ConfigError, ValidationFailed

# What the audit log shows instead of an encrypted field's value.
HIDDEN = "changed"
BATCH = 500


def keyring_of(registry) -> KeyRing:
    ring = getattr(registry, "keyring", None)
    if ring is None:
        raise ConfigError("encrypted fields need the instance's key ring (ENCRYPTION_KEYS); this tool has none")
    return ring


def context(object_api_name: str, field_name: str) -> str:
    """What a ciphertext and its blind index are bound to (no tenant: an
    export imports under another tenant name and still decrypts)."""
    return f"{object_api_name}.{field_name}"


def seal(ring: KeyRing, object_api_name: str, field_type: FieldType, value: Any) -> tuple[str | None, str | None]:
    """(ciphertext, blind index) of a clear value."""
    if value is None:
        return None, None
    where = context(object_api_name, field_type.api_name)
    return ring.encrypt(str(value), where), ring.blind_index(field_type.blind_index_text(value), where)


def seal_values(registry, object_api_name: str, fields: dict[str, FieldType], values: dict) -> dict:
    """Column values as stored: each encrypted field's ciphertext and blind index."""
    names = [name for name in values if name in fields and fields[name].encrypted]
    if not names:
        return values
    ring = keyring_of(registry)
    sealed = dict(values)
    for name in names:
        field_type = fields[name]
        sealed[name], sealed[field_type.blind_index_column] = seal(ring, object_api_name, field_type, values[name])
    return sealed


def open_value(registry, object_api_name: str, field_type: FieldType, stored: Any) -> Any:
    """The clear value of a stored one (unchanged for fields not encrypted)."""
    if not field_type.encrypted or stored is None:
        return stored
    return keyring_of(registry).decrypt(stored, context(object_api_name, field_type.api_name))


def open_row(registry, object_api_name: str, fields: dict[str, FieldType], row: dict) -> dict:
    """A stored row (a mapping of columns) with its encrypted fields opened."""
    opened = dict(row)
    for name, field_type in fields.items():
        if field_type.encrypted and name in opened:
            opened[name] = open_value(registry, object_api_name, field_type, opened[name])
    return opened


def hidden(fields: dict[str, FieldType], name: str, value: Any) -> Any:
    """An audit detail: the value, or only that it changed for an encrypted field."""
    field_type = fields.get(name)
    if field_type is None or not field_type.encrypted or value is None:  # "left empty" reveals nothing
        return value
    return HIDDEN


def exact_match(registry, object_api_name: str, field_type: FieldType, column, op: str, value: Any):
    """An ``eq``/``ne``/``in``/``isnull`` filter on an encrypted field,
    answered by its blind index; any other operator is refused, naming the field."""
    name = field_type.api_name
    if op not in field_type.operators:
        message = (
            f"{name} is encrypted: only exact matches ({', '.join(field_type.operators)}) can filter it, not {op!r}"
        )
        raise ValidationFailed(f"bad filter on {name}: {message}", details={"fields": {name: [message]}})
    if op == "isnull":
        return field_type.filter(column, op, value)
    ring = keyring_of(registry)
    where = context(object_api_name, name)
    index = column.table.c[field_type.blind_index_column]
    values = (value if isinstance(value, list) else str(value).split(",")) if op == "in" else [value]
    loaded = [field_type.coerce_filter_value(v) for v in values]
    wanted = [i for v in loaded if v is not None for i in ring.blind_indexes(field_type.blind_index_text(v), where)]
    if op == "in":
        return index.in_(wanted)
    if not wanted:  # an empty value: is (not) blank
        return column.is_(None) if op == "eq" else column.is_not(None)
    return index.in_(wanted) if op == "eq" else sa.or_(index.not_in(wanted), column.is_(None))


# -- rewriting stored values --------------------------------------------------------------


def rewrite_encryption(conn: Connection, registry, object_api_name: str, old: FieldType, new: FieldType) -> None:
    """Seal (``new`` encrypted) or open (``old`` encrypted) every stored
    value of a field, in the caller's transaction; the caller changes the
    columns around it (:meth:`SchemaEditor.change_encryption`)."""
    ring = keyring_of(registry)
    columns = [old.api_name] + ([new.blind_index_column] if new.encrypted else [])
    table = bare_table(object_api_name, *columns)
    column = table.c[old.api_name]
    after = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, column)
            .where(column.is_not(None), table.c.id > after)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for record_id, stored in rows:
            if new.encrypted:
                value, index = seal(ring, object_api_name, new, stored)
                values = {old.api_name: value, new.blind_index_column: index}
            else:
                values = {old.api_name: ring.decrypt(stored, context(object_api_name, old.api_name))}
            conn.execute(table.update().where(table.c.id == record_id).values(values))
        after = rows[-1].id


def longest_value(conn: Connection, registry, object_api_name: str, field_type: FieldType) -> int:
    """The length of the longest clear value of an encrypted field (SQL sees only ciphertexts)."""
    ring = keyring_of(registry)
    table = bare_table(object_api_name, field_type.api_name)
    column = table.c[field_type.api_name]
    where = context(object_api_name, field_type.api_name)
    return max(
        (len(ring.decrypt(v, where)) for v in conn.execute(sa.select(column).where(column.is_not(None))).scalars()),
        default=0,
    )


def rotate(
    binding: TenantBinding,
    model: CompiledModel,
    ring: KeyRing,
    *,
    batch_size: int = BATCH,
    progress: Callable[[str], None] = lambda _line: None,
) -> dict[str, int]:
    """Re-encrypt every stored value not under the newest key (recycle bin
    included), ``batch_size`` rows per transaction: an interrupted rotation
    resumes where it stopped when run again. A re-encryption is no change to
    the record (no new version, no audit entry per row). Returns the
    re-encrypted count per ``object.field``."""
    done: dict[str, int] = {}
    stale_prefix = f"{PREFIX}:{ring.current_id}:"
    for obj in model.objects.values():
        for name, field_type in obj.fields.items():
            if not field_type.encrypted:
                continue
            table = obj.table
            column, index = table.c[name], table.c[field_type.blind_index_column]
            stale = sa.and_(column.is_not(None), sa.not_(column.startswith(stale_prefix, autoescape=True)))
            where = context(obj.api_name, name)
            count, after = 0, 0
            while True:
                with binding.begin() as conn:
                    rows = conn.execute(
                        sa.select(table.c.id, column)
                        .where(stale, table.c.id > after)
                        .order_by(table.c.id)
                        .limit(batch_size)
                    ).all()
                    for record_id, stored in rows:
                        clear = ring.decrypt(stored, where)
                        value, blind = seal(ring, obj.api_name, field_type, clear)
                        # Only if nobody wrote the value meanwhile (a new write is under the newest key anyway).
                        conn.execute(
                            table.update()
                            .where(table.c.id == record_id, column == stored)
                            .values({name: value, index.name: blind})
                        )
                if not rows:
                    break
                count += len(rows)
                after = rows[-1].id
                progress(f"{binding.slug}: {where} {count} re-encrypted")
            done[where] = count
    return done
