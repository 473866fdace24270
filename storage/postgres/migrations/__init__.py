"""PostgreSQL migrations: the numbers and names of storage/migrations, plus PostgreSQL-only ones from 1001."""
