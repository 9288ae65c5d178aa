"""audit records are sealed after commit: chain position ``seq``, links set by the sealer

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:20:00.000000

Writers used to take one global lock to read the chain's head; under concurrent intake that
lock serialised every request. Records are now inserted unsealed and chained by the sealer in
commit order (docs/decisions/0008-audit-chain.md). Records chained before this revision keep
their hashes: they get ``seq = id``, which is the order they were chained in.

The append-only triggers now let exactly one UPDATE through: the sealer's, which sets ``seq``,
``prev_hash`` and ``hash`` on a record that has none and changes nothing else.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_records is append-only"
CONTENT = ("id", "at", "actor_account_id", "actor", "post", "action", "target_type", "target_id",
           "region_code", "changes", "client_addr")

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND OLD.hash IS NULL AND OLD.prev_hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL
       AND ({", ".join(f"NEW.{c}" for c in CONTENT)})
           IS NOT DISTINCT FROM ({", ".join(f"OLD.{c}" for c in CONTENT)}) THEN
        RETURN NEW;  -- the sealer
    END IF;
    RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""
SQLITE_UPDATE = f"""
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
WHEN OLD.seq IS NOT NULL OR OLD.hash IS NOT NULL OR OLD.prev_hash IS NOT NULL
  OR NEW.seq IS NULL OR NEW.hash IS NULL OR NEW.prev_hash IS NULL
  OR {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CONTENT)}
BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END
"""
SQLITE_DELETE = f"""
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_records DISABLE TRIGGER USER")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_delete")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_records_seq"), ["seq"])
    op.execute("UPDATE audit_records SET seq = id")
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("ALTER TABLE audit_records ENABLE TRIGGER USER")
    else:
        op.execute(SQLITE_UPDATE)
        op.execute(SQLITE_DELETE)


def downgrade() -> None:
    raise NotImplementedError("unsealed records cannot be put back under the global lock")
