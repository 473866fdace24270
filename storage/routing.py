"""Routing in SQL: which subscribers an article reaches, due digests and the release after quiet hours.

Every reader's choices are columns of their chat row (migration 0012), so an article's audience is one
INSERT ... SELECT per chunk of subscribers (Outbox.fill), and the per-minute jobs work on the chats their
partial indexes say are due, in chunks, each chunk queued and advanced in one transaction: a crash or a
restart leaves a reader either fully served for a slot or still due for it, never both, never neither.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from storage.database import Database, Transaction
from storage.models import ArticleRoute, DigestBatch, DigestCandidate, DigestContent, DigestProfile
from storage.readers import INTERFACE_LANGUAGE

DIGEST_KIND = "digest"
MIN_CHAT_ID = -(2**63)
RECENT_ARTICLES = 1000  # a digest or release looks at most this many newest articles (after long downtime)

_ISTANBUL = ZoneInfo("Europe/Istanbul")  # quiet hours are Istanbul minutes (bot/readers/schedule.py)

# The article languages a reader gets, over `chats c`: their choice, else their interface language.
READER_LANGUAGES = f"coalesce(c.languages, {INTERFACE_LANGUAGE})"


def istanbul_minute(moment: float) -> int:
    """Minutes after Istanbul midnight at unix time `moment`, for callers that pass no fill moment."""
    local = datetime.fromtimestamp(moment, _ISTANBUL)
    return local.hour * 60 + local.minute


def quiet_at(minute: str) -> str:
    """SQL: whether chat `c` is in its quiet hours at the Istanbul minute `minute` (a parameter)."""
    return (
        "(c.quiet_start IS NOT NULL AND c.quiet_end IS NOT NULL AND c.quiet_start != c.quiet_end AND "
        f"CASE WHEN c.quiet_start < c.quiet_end THEN {minute} >= c.quiet_start AND {minute} < c.quiet_end "
        f"ELSE {minute} >= c.quiet_start OR {minute} < c.quiet_end END)"
    )


def followed(article: str) -> str:
    """SQL: one of chat `c`'s followed phrases (as typed) that the article contains, or NULL."""
    return (
        "(SELECT f.phrase FROM follows f JOIN article_matches m ON m.folded = f.folded "
        f"WHERE f.chat_id = c.chat_id AND m.article_id = {article} LIMIT 1)"
    )


_MATCHED = f"(CASE WHEN :has_matches THEN {followed(':article')} END)"

# One chunk of an article's audience (Outbox.fill): active subscribers with chat ids in (:after, :upto] who
# read its language and, unless it is breaking news, get articles one by one (no digest), are not in quiet
# hours at the fill moment (:minute) and have its section on or follow a phrase it contains. Breaking news
# goes to every reader of its language, silently during their quiet hours.
ROUTED_FILL = (
    "INSERT OR IGNORE INTO deliveries (broadcast_id, chat_id, silent, matched) "
    f"SELECT :broadcast, c.chat_id, CASE WHEN :breaking THEN {quiet_at(':minute')} ELSE 0 END, {_MATCHED} "
    "FROM chats c "
    "WHERE c.chat_id > :after AND c.chat_id <= :upto AND c.subscribed = 1 AND c.reachable = 1 "
    f" AND instr(',' || {READER_LANGUAGES} || ',', :language) > 0 "
    " AND (:breaking OR (c.digest_times IS NULL "
    f"  AND NOT {quiet_at(':minute')} "
    f"  AND (instr(coalesce(c.muted_sections, ''), :section) = 0 OR {_MATCHED} IS NOT NULL)))"
)

# The per-minute check when nobody is due: two seeks on the partial indexes, nothing else read.
_ANYONE_DUE = (
    "SELECT EXISTS (SELECT 1 FROM chats INDEXED BY chats_digest_due WHERE digest_next <= :now) "
    " OR EXISTS (SELECT 1 FROM chats INDEXED BY chats_quiet_due WHERE quiet_next_end <= :now)"
)

# Announced articles only (a feed's backlog is stored without a broadcast and never pushed).
_ANNOUNCED = (
    "FROM (SELECT * FROM articles WHERE id > :low AND id <= :high AND withdrawn_at IS NULL "
    " ORDER BY id DESC LIMIT :recent) a "
    "JOIN broadcasts b ON b.kind = 'article' AND b.ref = CAST(a.id AS TEXT)"
)


@dataclass(frozen=True)
class QuietBatch:
    """One chunk of readers whose quiet hours ended, after the individual releases were queued."""

    readers: int
    released: int  # deliveries queued one by one (readers with few held articles)
    lists: list[str]  # the distinct held lists ("9,7,5,4,...", in order) of readers who get one message
    quiet_hours: list[tuple[int | None, int | None]]  # distinct (start, end), to compute the next end


class Routing:
    """Reader-aware queueing: article matches, digests and quiet-hours releases."""

    def __init__(self, db: Database, default_language: str = "tr") -> None:
        self._db = db
        self.default_language = default_language  # articles.language NULL: NEWSBOT_DEFAULT_LANGUAGE

    # ------------------------------------------------------------------ articles

    async def followed_phrases(self, tx: Transaction) -> list[str]:
        """Every distinct followed phrase (folded), from its index: matching works on these, not readers."""
        rows = await tx.fetchall("SELECT DISTINCT folded FROM follows")
        return [row[0] for row in rows]

    async def save_matches(self, tx: Transaction, article_id: int, folded: Iterable[str]) -> None:
        """Remember which followed phrases an article contains, before its audience is queued."""
        await tx.executemany(
            "INSERT OR IGNORE INTO article_matches (article_id, folded) VALUES (?, ?)",
            [(article_id, phrase) for phrase in folded],
        )

    async def article_route(self, article_id: int) -> ArticleRoute | None:
        """An article's language, section and breaking flag, for its pushed message."""
        row = await self._db.fetchone(
            "SELECT a.id, coalesce(a.language, ?) AS language, a.section_id, a.breaking, "
            " coalesce(s.label_tr, 'Genel') AS label_tr, coalesce(s.label_en, 'General') AS label_en "
            "FROM articles a LEFT JOIN sections s ON s.id = a.section_id WHERE a.id = ?",
            (self.default_language, article_id),
        )
        if row is None:
            return None
        return ArticleRoute(
            row["id"],
            row["language"],
            row["section_id"],
            row["label_tr"],
            row["label_en"],
            bool(row["breaking"]),
        )

    async def fill_params(self, tx: Transaction, article_id: int) -> dict[str, object] | None:
        """ROUTED_FILL's article parameters, from the article row; None when the article is gone."""
        row = await tx.fetchone(
            "SELECT coalesce(language, ?) AS language, section_id, breaking, "
            " EXISTS (SELECT 1 FROM article_matches WHERE article_id = a.id) AS has_matches "
            "FROM articles a WHERE id = ?",
            (self.default_language, article_id),
        )
        if row is None:
            return None
        return {
            "article": article_id,
            "language": f",{row['language']},",
            "section": f",{row['section_id']},",
            "breaking": int(bool(row["breaking"])),
            "has_matches": row["has_matches"],
        }

    async def anyone_due(self, now: float) -> bool:
        """Whether any digest or quiet-hours release is due: the every-minute check, index-only."""
        return bool(await self._db.fetchval(_ANYONE_DUE, {"now": now}))

    # ------------------------------------------------------------------ digests

    async def digest_batch(self, tx: Transaction, now: float, minute: int, limit: int) -> DigestBatch | None:
        """Take up to `limit` due digest readers into temp.digest_due, grouped into profiles; None if none."""
        await _drop(tx, "digest_due", "digest_plan", "digest_phrases")
        due = "FROM chats c INDEXED BY chats_digest_due WHERE c.digest_next <= :now LIMIT :limit"
        high = await _newest_article(tx)
        row = await tx.fetchone(
            f"SELECT count(*), min(coalesce(after, :high)) FROM (SELECT c.digest_after AS after {due})",
            {"now": now, "limit": limit, "high": high},
        )
        assert row is not None
        readers, low = row[0], row[1]
        if not readers:
            return None
        rows = await tx.fetchall(
            "SELECT a.id, coalesce(a.language, :default) AS language, a.section_id, a.breaking, "
            " (SELECT group_concat(folded, '|') FROM article_matches m WHERE m.article_id = a.id) AS matches "
            + _ANNOUNCED,
            {"low": low, "high": high, "recent": RECENT_ARTICLES, "default": self.default_language},
        )
        candidates = [
            DigestCandidate(
                r["id"], r["language"], r["section_id"], bool(r["breaking"]),
                frozenset((r["matches"] or "").split("|")) - {""},
            )
            for r in rows
        ]  # fmt: skip
        phrases = sorted(set().union(*(c.matches for c in candidates)))
        follows = "''"
        if phrases:
            # Only the follows some candidate contains tell readers apart; the rest change nothing.
            await tx.execute("CREATE TEMP TABLE digest_phrases (folded TEXT PRIMARY KEY) WITHOUT ROWID")
            await tx.executemany("INSERT INTO temp.digest_phrases VALUES (?)", [(p,) for p in phrases])
            # (+f.folded: walk the reader's few follows, never probe every phrase for every reader)
            follows = (
                "coalesce((SELECT group_concat(folded, '|') FROM (SELECT f.folded FROM follows f "
                " WHERE f.chat_id = c.chat_id AND +f.folded IN temp.digest_phrases ORDER BY f.folded)), '')"
            )
        await tx.execute(
            "CREATE TEMP TABLE digest_due AS "
            "SELECT c.chat_id, c.digest_next AS slot, c.digest_times AS times, "
            " (c.subscribed = 1 AND c.reachable = 1) AS active, "
            f" {READER_LANGUAGES} AS langs, coalesce(c.muted_sections, '') AS muted, "
            f" coalesce(c.digest_after, :high) AS after, {follows} AS follows, "
            f" {quiet_at(':minute')} AS silent " + due,
            {"now": now, "minute": minute, "limit": limit, "high": high},
        )
        profiles = [
            DigestProfile(r[0], r[1], r[2], r[3], r[4])
            for r in await tx.fetchall(
                "SELECT slot, langs, muted, after, follows FROM temp.digest_due WHERE active "
                "GROUP BY slot, langs, muted, after, follows"
            )
        ]
        times = [r[0] for r in await tx.fetchall("SELECT DISTINCT times FROM temp.digest_due")]
        return DigestBatch(readers, profiles, candidates, times, high)

    async def queue_digests(
        self,
        tx: Transaction,
        batch: DigestBatch,
        contents: Mapping[DigestProfile, DigestContent],
        next_slots: Mapping[str | None, float | None],
    ) -> int:
        """Queue one shared digest per distinct content for temp.digest_due, and advance those readers."""
        plan = []
        shared: dict[tuple[float, DigestContent], int] = {}  # many profiles, few distinct digests
        for profile, content in contents.items():
            if content.article_ids:  # an empty digest sends nothing; the reader still moves on
                key = (profile.slot, content)
                if key not in shared:
                    shared[key] = await self._digest_broadcast(tx, profile.slot, content)
                plan.append((profile.slot, profile.languages, profile.muted, profile.after, profile.follows,
                             shared[key]))  # fmt: skip
        queued = 0
        if plan:
            await tx.execute(
                "CREATE TEMP TABLE digest_plan (slot, langs, muted, after, follows, broadcast_id, "
                " PRIMARY KEY (slot, langs, muted, after, follows))"
            )
            await tx.executemany("INSERT INTO temp.digest_plan VALUES (?, ?, ?, ?, ?, ?)", plan)
            queued = await tx.execute(
                "INSERT OR IGNORE INTO deliveries (broadcast_id, chat_id, silent) "
                "SELECT p.broadcast_id, d.chat_id, d.silent FROM temp.digest_due d "
                "JOIN temp.digest_plan p ON p.slot = d.slot AND p.langs = d.langs AND p.muted = d.muted "
                " AND p.after = d.after AND p.follows = d.follows "
                "WHERE d.active"
            )
            await _add_totals(
                tx,
                "SELECT p.broadcast_id AS broadcast_id, count(*) AS n "
                "FROM temp.digest_due d JOIN temp.digest_plan p "
                " ON p.slot = d.slot AND p.langs = d.langs AND p.muted = d.muted AND p.after = d.after "
                " AND p.follows = d.follows WHERE d.active GROUP BY p.broadcast_id",
            )
        for times, slot in next_slots.items():
            await tx.execute(
                "UPDATE chats SET digest_next = ?, digest_after = max(coalesce(digest_after, 0), ?) "
                "WHERE chat_id IN (SELECT chat_id FROM temp.digest_due WHERE times IS ?)",
                (slot, batch.max_id, times),
            )
        await _drop(tx, "digest_due", "digest_plan", "digest_phrases")
        return queued

    async def _digest_broadcast(self, tx: Transaction, slot: float, content: DigestContent) -> int:
        """The digest broadcast of this content at this slot, shared by every reader who gets it."""
        ids = ",".join(str(i) for i in content.article_ids)
        ref = f"{int(slot)}:{hashlib.sha1(f'{ids}|{content.more}'.encode()).hexdigest()}"
        row = await tx.fetchone(
            "INSERT INTO broadcasts (kind, ref) VALUES (?, ?) "
            "ON CONFLICT (kind, ref) DO UPDATE SET ref = excluded.ref RETURNING id",
            (DIGEST_KIND, ref),
        )
        assert row is not None
        await tx.execute(
            "INSERT OR IGNORE INTO digests (broadcast_id, article_ids, more) VALUES (?, ?, ?)",
            (row[0], ids, content.more),
        )
        return int(row[0])

    async def digest(self, ref: str) -> DigestContent | None:
        """What the digest broadcast `ref` lists."""
        row = await self._db.fetchone(
            "SELECT g.article_ids, g.more FROM broadcasts b JOIN digests g ON g.broadcast_id = b.id "
            "WHERE b.kind = ? AND b.ref = ?",
            (DIGEST_KIND, ref),
        )
        if row is None:
            return None
        ids = tuple(int(part) for part in row[0].split(",") if part.strip().isdigit())
        return DigestContent(ids, row[1])

    async def breaking(self, article_ids: Sequence[int]) -> set[int]:
        """Which of these articles are breaking news (marked in a digest)."""
        if not article_ids:
            return set()
        marks = ", ".join("?" for _ in article_ids)
        rows = await self._db.fetchall(
            f"SELECT id FROM articles WHERE breaking = 1 AND id IN ({marks})", tuple(article_ids)
        )
        return {row[0] for row in rows}

    # ------------------------------------------------------------------ quiet hours

    async def quiet_batch(
        self, tx: Transaction, now: float, limit: int, *, individually: int, margin: float
    ) -> QuietBatch | None:
        """Take up to `limit` readers whose quiet hours ended; queue their few held articles one by one.

        Held: announced articles created since the quiet period began (less `margin` seconds, for one filled
        just after it began) that the reader's routing takes (languages, sections, follows; no digest), that
        were queued past the reader (a broadcast still filling reaches them itself) and that they have no
        delivery of. Readers with more than `individually` held get one message instead (finish_quiet).
        """
        await _drop(tx, "quiet_due", "quiet_articles", "quiet_held", "quiet_lists", "quiet_plan")
        await tx.execute(
            "CREATE TEMP TABLE quiet_due AS SELECT chat_id, quiet_start, quiet_end, quiet_next_end, "
            " strftime('%Y-%m-%dT%H:%M:%SZ', quiet_next_end "
            "  - ((quiet_end - quiet_start + 1440) % 1440) * 60 - :margin, 'unixepoch') AS since "
            "FROM chats INDEXED BY chats_quiet_due WHERE quiet_next_end <= :now LIMIT :limit",
            {"now": now, "limit": limit, "margin": margin},
        )
        row = await tx.fetchone(
            "SELECT count(*), min(since), (SELECT coalesce(max(id), 0) FROM articles) FROM temp.quiet_due"
        )
        assert row is not None
        readers, since, high = row
        if not readers:
            await _drop(tx, "quiet_due")
            return None
        await tx.execute(
            "CREATE TEMP TABLE quiet_articles AS "
            "SELECT a.id, b.id AS broadcast_id, coalesce(a.language, :default) AS language, a.section_id, "
            " a.breaking, a.created_at, "
            " CASE WHEN b.audience IS NULL THEN NULL ELSE coalesce(b.filled_to, :min_chat) END AS filled_to "
            + _ANNOUNCED
            + " WHERE a.created_at >= :since",
            {"low": 0, "high": high, "recent": RECENT_ARTICLES, "default": self.default_language,
             "since": since or "", "min_chat": MIN_CHAT_ID},
        )  # fmt: skip
        await tx.execute(
            "CREATE TEMP TABLE quiet_held AS "
            "SELECT c.chat_id, a.id AS article_id, a.broadcast_id, a.breaking, "
            f" {followed('a.id')} AS matched "
            "FROM temp.quiet_due q JOIN chats c ON c.chat_id = q.chat_id CROSS JOIN temp.quiet_articles a "
            "WHERE c.subscribed = 1 AND c.reachable = 1 AND c.digest_times IS NULL "
            " AND q.since IS NOT NULL AND a.created_at >= q.since "
            " AND (a.filled_to IS NULL OR a.filled_to >= c.chat_id) "
            f" AND instr(',' || {READER_LANGUAGES} || ',', ',' || a.language || ',') > 0 "
            " AND NOT EXISTS (SELECT 1 FROM deliveries d "
            "  WHERE d.broadcast_id = a.broadcast_id AND d.chat_id = c.chat_id) "
            " AND (a.breaking OR instr(coalesce(c.muted_sections, ''), ',' || a.section_id || ',') = 0 "
            f"  OR {followed('a.id')} IS NOT NULL)"
        )
        few = "SELECT chat_id FROM temp.quiet_held GROUP BY chat_id HAVING count(*) <= :few"
        released = await tx.execute(
            "INSERT OR IGNORE INTO deliveries (broadcast_id, chat_id, matched) "
            f"SELECT broadcast_id, chat_id, matched FROM temp.quiet_held WHERE chat_id IN ({few})",
            {"few": individually},
        )
        if released:
            await _add_totals(
                tx,
                "SELECT broadcast_id, count(*) AS n FROM temp.quiet_held "
                f"WHERE chat_id IN ({few}) GROUP BY broadcast_id",
                {"few": individually},
            )
        # One list per reader with many: followed and breaking first, then newest (a window keeps the order).
        await tx.execute(
            "CREATE TEMP TABLE quiet_lists AS SELECT DISTINCT chat_id, ids FROM ("
            " SELECT chat_id, group_concat(article_id) OVER (PARTITION BY chat_id "
            "  ORDER BY (matched IS NOT NULL OR breaking) DESC, article_id DESC "
            "  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS ids "
            f" FROM temp.quiet_held WHERE chat_id NOT IN ({few}))",
            {"few": individually},
        )
        lists = [r[0] for r in await tx.fetchall("SELECT DISTINCT ids FROM temp.quiet_lists")]
        hours = [
            (r[0], r[1])
            for r in await tx.fetchall("SELECT DISTINCT quiet_start, quiet_end FROM temp.quiet_due")
        ]
        return QuietBatch(readers, released, lists, hours)

    async def finish_quiet(
        self,
        tx: Transaction,
        contents: Mapping[str, DigestContent],
        slot: float,
        next_ends: Mapping[tuple[int | None, int | None], float | None],
    ) -> int:
        """One shared message per distinct held list (contents: list -> what it shows); move readers on."""
        queued = 0
        if contents:
            plan = [
                (ids, await self._digest_broadcast(tx, slot, content)) for ids, content in contents.items()
            ]
            await tx.execute("CREATE TEMP TABLE quiet_plan (ids TEXT PRIMARY KEY, broadcast_id INTEGER)")
            await tx.executemany("INSERT INTO temp.quiet_plan VALUES (?, ?)", plan)
            queued = await tx.execute(
                "INSERT OR IGNORE INTO deliveries (broadcast_id, chat_id) "
                "SELECT p.broadcast_id, l.chat_id FROM temp.quiet_lists l "
                "JOIN temp.quiet_plan p ON p.ids = l.ids"
            )
            await _add_totals(
                tx,
                "SELECT p.broadcast_id AS broadcast_id, count(*) AS n FROM temp.quiet_lists l "
                "JOIN temp.quiet_plan p ON p.ids = l.ids GROUP BY p.broadcast_id",
            )
        for (start, end), next_end in next_ends.items():
            await tx.execute(
                "UPDATE chats SET quiet_next_end = ? WHERE chat_id IN "
                "(SELECT chat_id FROM temp.quiet_due WHERE quiet_start IS ? AND quiet_end IS ?)",
                (next_end, start, end),
            )
        await _drop(tx, "quiet_due", "quiet_articles", "quiet_held", "quiet_lists", "quiet_plan")
        return queued


async def _newest_article(tx: Transaction) -> int:
    row = await tx.fetchone("SELECT coalesce(max(id), 0) FROM articles")
    assert row is not None
    return int(row[0])


async def _drop(tx: Transaction, *tables: str) -> None:
    for table in tables:
        await tx.execute(f"DROP TABLE IF EXISTS temp.{table}")


async def _add_totals(tx: Transaction, counts: str, params: Mapping[str, object] | None = None) -> None:
    """Add the deliveries just queued (`counts`: broadcast id, how many) to their broadcasts' totals."""
    await tx.execute(
        "UPDATE broadcasts SET total = coalesce(total, 0) + x.n "
        f"FROM ({counts}) AS x WHERE broadcasts.id = x.broadcast_id",
        dict(params or {}),
    )
