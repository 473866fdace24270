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
from storage.dialect import SQLITE, Dialect
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


_MATCHED = f"(CASE WHEN :has_matches = 1 THEN {followed(':article')} END)"


def routed_fill(dialect: Dialect) -> str:
    """One chunk of an article's audience (Outbox.fill), in the backend's words.

    Active subscribers with chat ids in (:after, :upto] who read its language and, unless it is breaking
    news, get articles one by one (no digest), are not in quiet hours at the fill moment (:minute) and have
    its section on or follow a phrase it contains. Breaking news goes to every reader of its language,
    silently during their quiet hours.
    """
    reads_language = dialect.contains(f"',' || {READER_LANGUAGES} || ','", ":language")
    section_muted = dialect.contains("coalesce(c.muted_sections, '')", ":section")
    return (
        "INSERT INTO deliveries (broadcast_id, chat_id, silent, matched) "
        "SELECT CAST(:broadcast AS bigint), c.chat_id, "
        f" CASE WHEN :breaking = 1 AND {quiet_at(':minute')} THEN 1 ELSE 0 END, {_MATCHED} "
        "FROM chats c "
        "WHERE c.chat_id > :after AND c.chat_id <= :upto AND c.subscribed = 1 AND c.reachable = 1 "
        f" AND {reads_language} "
        " AND (:breaking = 1 OR (c.digest_times IS NULL "
        f"  AND NOT {quiet_at(':minute')} "
        f"  AND (NOT {section_muted} "
        f"   OR {_MATCHED} IS NOT NULL))) "
        "ON CONFLICT DO NOTHING"
    )


def anyone_due(dialect: Dialect) -> str:
    """The per-minute check when nobody is due: two seeks on the partial indexes, nothing else read."""
    return (
        f"SELECT EXISTS (SELECT 1 FROM chats {dialect.indexed_by('chats_digest_due')} "
        " WHERE digest_next <= :now) "
        f" OR EXISTS (SELECT 1 FROM chats {dialect.indexed_by('chats_quiet_due')} "
        " WHERE quiet_next_end <= :now)"
    )


_ANYONE_DUE = anyone_due(SQLITE)

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
        self._dialect = dialect = db.dialect
        self.fill_sql = routed_fill(dialect)  # Outbox.fill's statement, with fill_params' values
        self._anyone_due = anyone_due(dialect)

    # ------------------------------------------------------------------ articles

    async def followed_phrases(self, tx: Transaction) -> list[str]:
        """Every distinct followed phrase (folded), from its index: matching works on these, not readers."""
        rows = await tx.fetchall("SELECT DISTINCT folded FROM follows")
        return [row[0] for row in rows]

    async def save_matches(self, tx: Transaction, article_id: int, folded: Iterable[str]) -> None:
        """Remember which followed phrases an article contains, before its audience is queued."""
        await tx.executemany(
            "INSERT INTO article_matches (article_id, folded) VALUES (?, ?) ON CONFLICT DO NOTHING",
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
        """fill_sql's article parameters, from the article row; None when the article is gone."""
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
            "has_matches": int(bool(row["has_matches"])),
        }

    async def anyone_due(self, now: float) -> bool:
        """Whether any digest or quiet-hours release is due: the every-minute check, index-only."""
        return bool(await self._db.fetchval(self._anyone_due, {"now": now}))

    # ------------------------------------------------------------------ digests

    async def digest_batch(self, tx: Transaction, now: float, minute: int, limit: int) -> DigestBatch | None:
        """Take up to `limit` due digest readers into digest_due (a temporary table), grouped into profiles;
        None if none."""
        dialect = self._dialect
        await _drop(tx, "digest_due", "digest_plan", "digest_phrases")
        due = (
            f"FROM chats c {dialect.indexed_by('chats_digest_due')} WHERE c.digest_next <= :now LIMIT :limit"
        )
        high = await _newest_article(tx)
        row = await tx.fetchone(
            "SELECT count(*), min(coalesce(after, :high)) "
            f"FROM (SELECT c.digest_after AS after {due}) AS d",
            {"now": now, "limit": limit, "high": high},
        )
        assert row is not None
        readers, low = row[0], row[1]
        if not readers:
            return None
        rows = await tx.fetchall(
            "SELECT a.id, coalesce(a.language, :default) AS language, a.section_id, a.breaking, "
            f" (SELECT {dialect.group_concat('folded', '|')} FROM article_matches m "
            "  WHERE m.article_id = a.id) AS matches "
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
            await tx.execute(
                f"CREATE TEMP TABLE digest_phrases (folded text PRIMARY KEY){dialect.without_rowid}"
            )
            await tx.executemany("INSERT INTO digest_phrases VALUES (?)", [(p,) for p in phrases])
            # (f.folded unindexed: walk the reader's few follows, never probe every phrase for every reader)
            follows = (
                f"coalesce((SELECT {dialect.group_concat('folded', '|')} FROM "
                " (SELECT f.folded FROM follows f "
                f" WHERE f.chat_id = c.chat_id AND {dialect.unindexed('f.folded')} IN "
                "  (SELECT folded FROM digest_phrases) ORDER BY f.folded) AS x), '')"
            )
        await tx.execute(
            "CREATE TEMP TABLE digest_due (chat_id bigint, slot double precision, times text, "
            " active integer, langs text, muted text, after bigint, follows text, silent integer)"
        )
        await tx.execute(
            "INSERT INTO digest_due "
            "SELECT c.chat_id, c.digest_next AS slot, c.digest_times AS times, "
            " CASE WHEN c.subscribed = 1 AND c.reachable = 1 THEN 1 ELSE 0 END AS active, "
            f" {READER_LANGUAGES} AS langs, coalesce(c.muted_sections, '') AS muted, "
            f" coalesce(c.digest_after, :high) AS after, {follows} AS follows, "
            f" CASE WHEN {quiet_at(':minute')} THEN 1 ELSE 0 END AS silent " + due,
            {"now": now, "minute": minute, "limit": limit, "high": high},
        )
        profiles = [
            DigestProfile(r[0], r[1], r[2], r[3], r[4])
            for r in await tx.fetchall(
                "SELECT slot, langs, muted, after, follows FROM digest_due WHERE active = 1 "
                "GROUP BY slot, langs, muted, after, follows"
            )
        ]
        times = [r[0] for r in await tx.fetchall("SELECT DISTINCT times FROM digest_due")]
        return DigestBatch(readers, profiles, candidates, times, high)

    async def queue_digests(
        self,
        tx: Transaction,
        batch: DigestBatch,
        contents: Mapping[DigestProfile, DigestContent],
        next_slots: Mapping[str | None, float | None],
    ) -> int:
        """Queue one shared digest per distinct content for digest_due, and advance those readers."""
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
                "CREATE TEMP TABLE digest_plan (slot double precision, langs text, muted text, after bigint, "
                " follows text, broadcast_id bigint, PRIMARY KEY (slot, langs, muted, after, follows))"
            )
            await tx.executemany("INSERT INTO digest_plan VALUES (?, ?, ?, ?, ?, ?)", plan)
            queued = await tx.execute(
                "INSERT INTO deliveries (broadcast_id, chat_id, silent) "
                "SELECT p.broadcast_id, d.chat_id, d.silent FROM digest_due d "
                "JOIN digest_plan p ON p.slot = d.slot AND p.langs = d.langs AND p.muted = d.muted "
                " AND p.after = d.after AND p.follows = d.follows "
                "WHERE d.active = 1 ON CONFLICT DO NOTHING"
            )
            await _add_totals(
                tx,
                "SELECT p.broadcast_id AS broadcast_id, count(*) AS n "
                "FROM digest_due d JOIN digest_plan p "
                " ON p.slot = d.slot AND p.langs = d.langs AND p.muted = d.muted AND p.after = d.after "
                " AND p.follows = d.follows WHERE d.active = 1 GROUP BY p.broadcast_id",
            )
        for times, slot in next_slots.items():
            await tx.execute(
                "UPDATE chats SET digest_next = ?, "
                f" digest_after = {self._dialect.greatest('coalesce(digest_after, 0)', '?')} "
                f"WHERE chat_id IN (SELECT chat_id FROM digest_due WHERE {self._dialect.same('times', '?')})",
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
            "INSERT INTO digests (broadcast_id, article_ids, more) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
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
        dialect = self._dialect
        await _drop(tx, "quiet_due", "quiet_articles", "quiet_held", "quiet_lists", "quiet_plan")
        began = "quiet_next_end - ((quiet_end - quiet_start + 1440) % 1440) * 60 - :margin"
        await tx.execute(
            "CREATE TEMP TABLE quiet_due (chat_id bigint, quiet_start integer, quiet_end integer, "
            " quiet_next_end double precision, since text)"
        )
        await tx.execute(
            "INSERT INTO quiet_due SELECT chat_id, quiet_start, quiet_end, quiet_next_end, "
            f" {dialect.iso_from_unix(began)} AS since "
            f"FROM chats {dialect.indexed_by('chats_quiet_due')} WHERE quiet_next_end <= :now LIMIT :limit",
            {"now": now, "limit": limit, "margin": margin},
        )
        row = await tx.fetchone(
            "SELECT count(*), min(since), (SELECT coalesce(max(id), 0) FROM articles) FROM quiet_due"
        )
        assert row is not None
        readers, since, high = row
        if not readers:
            await _drop(tx, "quiet_due")
            return None
        await tx.execute(
            "CREATE TEMP TABLE quiet_articles (id bigint, broadcast_id bigint, language text, "
            " section_id bigint, breaking integer, created_at text, filled_to bigint)"
        )
        await tx.execute(
            "INSERT INTO quiet_articles "
            "SELECT a.id, b.id AS broadcast_id, coalesce(a.language, :default) AS language, a.section_id, "
            " a.breaking, a.created_at, "
            " CASE WHEN b.audience IS NULL THEN NULL ELSE coalesce(b.filled_to, :min_chat) END AS filled_to "
            + _ANNOUNCED
            + " WHERE a.created_at >= :since",
            {"low": 0, "high": high, "recent": RECENT_ARTICLES, "default": self.default_language,
             "since": since or "", "min_chat": MIN_CHAT_ID},
        )  # fmt: skip
        reads_language = dialect.contains(f"',' || {READER_LANGUAGES} || ','", "',' || a.language || ','")
        section_muted = dialect.contains("coalesce(c.muted_sections, '')", "',' || a.section_id || ','")
        await tx.execute(
            "CREATE TEMP TABLE quiet_held AS "
            "SELECT c.chat_id, a.id AS article_id, a.broadcast_id, a.breaking, "
            f" {followed('a.id')} AS matched "
            "FROM quiet_due q JOIN chats c ON c.chat_id = q.chat_id CROSS JOIN quiet_articles a "
            "WHERE c.subscribed = 1 AND c.reachable = 1 AND c.digest_times IS NULL "
            " AND q.since IS NOT NULL AND a.created_at >= q.since "
            " AND (a.filled_to IS NULL OR a.filled_to >= c.chat_id) "
            f" AND {reads_language} "
            " AND NOT EXISTS (SELECT 1 FROM deliveries d "
            "  WHERE d.broadcast_id = a.broadcast_id AND d.chat_id = c.chat_id) "
            f" AND (a.breaking <> 0 OR NOT {section_muted} "
            f"  OR {followed('a.id')} IS NOT NULL)"
        )
        few = "SELECT chat_id FROM quiet_held GROUP BY chat_id HAVING count(*) <= :few"
        released = await tx.execute(
            "INSERT INTO deliveries (broadcast_id, chat_id, matched) "
            f"SELECT broadcast_id, chat_id, matched FROM quiet_held WHERE chat_id IN ({few}) "
            "ON CONFLICT DO NOTHING",
            {"few": individually},
        )
        if released:
            await _add_totals(
                tx,
                "SELECT broadcast_id, count(*) AS n FROM quiet_held "
                f"WHERE chat_id IN ({few}) GROUP BY broadcast_id",
                {"few": individually},
            )
        # One list per reader with many: followed and breaking first, then newest (a window keeps the order).
        await tx.execute("CREATE TEMP TABLE quiet_lists (chat_id bigint, ids text)")
        await tx.execute(
            "INSERT INTO quiet_lists SELECT DISTINCT chat_id, ids FROM ("
            f" SELECT chat_id, {dialect.group_concat('article_id', ',')} OVER (PARTITION BY chat_id "
            "  ORDER BY (matched IS NOT NULL OR breaking <> 0) DESC, article_id DESC "
            "  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS ids "
            f" FROM quiet_held WHERE chat_id NOT IN ({few})) AS x",
            {"few": individually},
        )
        lists = [r[0] for r in await tx.fetchall("SELECT DISTINCT ids FROM quiet_lists")]
        hours = [
            (r[0], r[1]) for r in await tx.fetchall("SELECT DISTINCT quiet_start, quiet_end FROM quiet_due")
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
            await tx.executemany("INSERT INTO quiet_plan VALUES (?, ?)", plan)
            queued = await tx.execute(
                "INSERT INTO deliveries (broadcast_id, chat_id) "
                "SELECT p.broadcast_id, l.chat_id FROM quiet_lists l "
                "JOIN quiet_plan p ON p.ids = l.ids WHERE true ON CONFLICT DO NOTHING"
            )
            await _add_totals(
                tx,
                "SELECT p.broadcast_id AS broadcast_id, count(*) AS n FROM quiet_lists l "
                "JOIN quiet_plan p ON p.ids = l.ids GROUP BY p.broadcast_id",
            )
        for (start, end), next_end in next_ends.items():
            await tx.execute(
                "UPDATE chats SET quiet_next_end = ? WHERE chat_id IN (SELECT chat_id FROM quiet_due "
                f"WHERE {self._dialect.same('quiet_start', '?')} AND {self._dialect.same('quiet_end', '?')})",
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
        await tx.execute(f"DROP TABLE IF EXISTS {table}")  # temporary tables: found before any other


async def _add_totals(tx: Transaction, counts: str, params: Mapping[str, object] | None = None) -> None:
    """Add the deliveries just queued (`counts`: broadcast id, how many) to their broadcasts' totals."""
    await tx.execute(
        "UPDATE broadcasts SET total = coalesce(total, 0) + x.n "
        f"FROM ({counts}) AS x WHERE broadcasts.id = x.broadcast_id",
        dict(params or {}),
    )
