"""PostgreSQL backend (NEWSBOT_DATABASE_URL): PgDatabase on asyncpg, its migrations, the sender lease."""

from storage.postgres.database import PgDatabase, PgTransaction
from storage.postgres.lease import Lease

__all__ = ["Lease", "PgDatabase", "PgTransaction"]
