"""The instances sharing one bot token: a heartbeat row each, and the reply allowance the sender grants.

Times are unix seconds on the database server's clock, so instances on different machines agree; tests pass
`now` for it. bot/instances/cluster.py explains the budget these rows carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.postgres.database import PgDatabase

_NOW = "coalesce({}::double precision, extract(epoch FROM clock_timestamp())::double precision)"

# A row whose term ran out lost its grant (the sender has counted it out and taken its share back) and
# starts again as the newest, so it never goes before instances that hold grants now.
_BEAT = f"""
WITH now AS (SELECT {_NOW.format("$3")} AS t)
INSERT INTO instances AS i (id, started_at, seen_at, allowance)
SELECT $1, now.t, now.t, 0 FROM now
ON CONFLICT (id) DO UPDATE SET
    seen_at = EXCLUDED.seen_at,
    started_at = CASE WHEN i.seen_at + $2 > EXCLUDED.seen_at THEN i.started_at ELSE EXCLUDED.started_at END,
    allowance = CASE WHEN i.seen_at + $2 > EXCLUDED.seen_at THEN i.allowance ELSE 0 END
RETURNING allowance, seen_at
"""
_LIVE = f"""
SELECT id, started_at, allowance FROM instances
WHERE seen_at + $1 > {_NOW.format("$2")} ORDER BY started_at, id
"""
_GRANT = f"""
UPDATE instances SET
    allowance = CASE WHEN id = ANY($1::text[]) THEN $2 ELSE 0 END,
    granted_at = CASE WHEN id = ANY($1::text[]) AND allowance <> $2 THEN {_NOW.format("$5")}
                      ELSE granted_at END
WHERE id <> $3 AND seen_at + $4 > {_NOW.format("$5")}
"""
_FORGET = f"DELETE FROM instances WHERE seen_at + $1 < {_NOW.format('$2')}"


@dataclass(frozen=True)
class Instance:
    """A live instance: its id, when it first beat, and the allowance it was granted."""

    id: str
    started_at: float
    allowance: int


class Instances:
    """The `instances` table (migration 1002)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def beat(self, instance: str, ttl: float, *, now: float | None = None) -> int:
        """Say this instance is alive; returns its allowance (0 after its row had run out)."""
        row = await self._db.write_fetchone(_BEAT, (instance, ttl, now))
        assert row is not None
        return int(row["allowance"])

    async def live(self, ttl: float, *, now: float | None = None) -> list[Instance]:
        """The instances whose last heartbeat is younger than `ttl`, oldest first."""
        rows = await self._db.fetchall(_LIVE, (ttl, now))
        return [Instance(row["id"], row["started_at"], row["allowance"]) for row in rows]

    async def grant(
        self, sender: str, granted: Sequence[str], allowance: int, ttl: float, *, now: float | None = None
    ) -> None:
        """Give `allowance` to the live instances in `granted`, and nothing to the other live ones."""
        await self._db.execute(_GRANT, (list(granted), allowance, sender, ttl, now))

    async def forget(self, older_than: float, *, now: float | None = None) -> int:
        """Delete the rows of instances gone for longer than `older_than` seconds."""
        return await self._db.execute(_FORGET, (older_than, now))
