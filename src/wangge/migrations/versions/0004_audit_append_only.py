"""audit records are append-only: triggers refuse UPDATE and DELETE

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:30:00.000000

The hash chain shows tampering after the fact; these triggers stop the casual kind (a stray
UPDATE from a console or a bug) before it happens. Someone with DDL rights can still drop them,
which is why the chain exists (docs/decisions/0008-audit-chain.md).

On SQLite a later migration that rebuilds ``audit_records`` (batch mode copies the table) drops
these triggers with it and must create them again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_records is append-only"

PG_UP = (
    f"""
    CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()
    """,
    """
    CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()
    """,
)
PG_DOWN = (
    "DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records",
    "DROP TRIGGER IF EXISTS audit_records_no_change ON audit_records",
    "DROP FUNCTION IF EXISTS audit_records_append_only()",
)
SQLITE_UP = tuple(
    f"""
    CREATE TRIGGER audit_records_no_{op_name.lower()} BEFORE {op_name} ON audit_records
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {op_name} refused'); END
    """
    for op_name in ("UPDATE", "DELETE")
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS audit_records_no_update",
    "DROP TRIGGER IF EXISTS audit_records_no_delete",
)


def _statements(pg: Sequence[str], sqlite: Sequence[str]) -> Sequence[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return pg
    if dialect == "sqlite":
        return sqlite
    raise NotImplementedError(f"append-only triggers for {dialect}")


def upgrade() -> None:
    for statement in _statements(PG_UP, SQLITE_UP):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(PG_DOWN, SQLITE_DOWN):
        op.execute(statement)
