"""the deadline sweep's mark is a HOT update: one plain index on due_at, 15% free per page

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:05:00.000000

Marking a case overdue sets ``overdue_at``. While an index mentioned that column (the partial
indexes ``ix_cases_due_unmarked`` and ``ix_cases_overdue_unsupervised``), PostgreSQL had to
write a new entry in every index of ``cases`` for every marked row: 3.9 s of a 5.7 s sweep over
1,000,000 open cases. With one plain index on ``due_at`` (the sweep and the supervision query
range over it: a case is marked after its deadline) and room left on each page
(``fillfactor = 85``), the mark is a heap-only-tuple update. Pages written before this revision
keep their fill; new and rewritten ones get the room.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_due_unmarked")
        batch_op.drop_index("ix_cases_overdue_unsupervised")
        batch_op.create_index("ix_cases_due_at", ["due_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE cases SET (fillfactor = 85)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE cases RESET (fillfactor)")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_due_at")
        batch_op.create_index("ix_cases_overdue_unsupervised", ["overdue_at"], unique=False,
                              postgresql_where=sa.text("supervised_at IS NULL"),
                              sqlite_where=sa.text("supervised_at IS NULL"))
        batch_op.create_index("ix_cases_due_unmarked", ["due_at"], unique=False,
                              postgresql_where=sa.text("overdue_at IS NULL"),
                              sqlite_where=sa.text("overdue_at IS NULL"))
