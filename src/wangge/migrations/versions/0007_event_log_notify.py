"""PostgreSQL publishes every event_log row itself: a statement trigger NOTIFYs at commit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 11:40:00.000000

The bus used to send a NOTIFY from the app after each commit: a second statement on another
connection, and events lost if the process died between the two. The event log is now the
outbox and the database its publisher: an AFTER INSERT trigger (once per statement, over the
transition table, in id order) queues one notification per new row on the schema's channel
(``wangge.kit.bus.pg_channel``); PostgreSQL delivers them when, and only if, the transaction
commits. A body over the NOTIFY limit travels as ``{"ref": id}`` and is read back from the log.
SQLite has no NOTIFY: there the in-process bus publishes after commit, as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The body is PublishedEvent's JSON (wangge.kit.bus); the limit is bus.NOTIFY_LIMIT.
FUNCTION = """
CREATE OR REPLACE FUNCTION event_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    channel text := CASE WHEN TG_TABLE_SCHEMA = 'public' THEN 'wangge_events'
                         ELSE left('wangge_events_' || TG_TABLE_SCHEMA, 63) END;
BEGIN
    PERFORM pg_notify(channel, CASE WHEN octet_length(body) <= 7900 THEN body
                                    ELSE json_build_object('ref', id)::text END)
    FROM (SELECT n.id, json_build_object(
                     'id', n.id, 'type', n.type, 'region_code', n.region_code,
                     'permission', n.permission, 'payload', CAST(n.payload AS json),
                     'at', to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                 )::text AS body
          FROM new_events n ORDER BY n.id) AS rows;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute("CREATE TRIGGER event_log_notify AFTER INSERT ON event_log "
               "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT "
               "EXECUTE FUNCTION event_log_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS event_log_notify ON event_log")
    op.execute("DROP FUNCTION IF EXISTS event_log_notify()")
