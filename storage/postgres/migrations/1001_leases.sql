-- PostgreSQL only (numbers from 1001 never meet SQLite's): leases, so exactly one of several newsbot
-- instances does a job at a time (storage/postgres/lease.py). One row per job ("sender"); a holder renews
-- its row well before expires_at, and any instance may take a row whose expires_at has passed. `epoch`
-- grows with every new term, so work done under a term can be checked against the current one (fencing).
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,              -- the instance holding it: host, pid and a random part
    epoch bigint NOT NULL,             -- 1, 2, 3 ... one per term
    acquired_at double precision NOT NULL,   -- unix time (the database server's clock) the term began
    expires_at double precision NOT NULL     -- unix time after which another instance may take it
);
