"""Feed ingestion: fetch feeds and their new items' pages, store each article once, announce new ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import aiohttp

from bot.arguments import ArticleOptions
from bot.clock import utc_now
from bot.corrections import correct, item_key
from bot.drafts import ArticleKeys, article_keys, make_draft
from bot.news.languages import first_language
from bot.news.options import configure_feed
from bot.publishing import publish
from bot.sources.addresses import FetchAllow
from bot.sources.extract import ExtractedArticle, ExtractionError, extract_article
from bot.sources.feeds import FeedEntry, FeedParseError, parse_feed
from bot.sources.fetch import FetchError, FetchTimeouts, fetch, open_session
from bot.sources.links import http_url_parts, normalize_url
from storage import Store
from storage.models import ArticleDraft, Feed, Section

log = logging.getLogger(__name__)

_UNDATED = datetime.max.replace(tzinfo=UTC)  # undated items count as newest
_GLOBAL_GUID = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")  # http://..., tag:..., urn:uuid:...


@dataclass(frozen=True)
class IngestLimits:
    """How much one poll may cost: concurrency, timeouts, size caps, deadline and backoff."""

    feed_concurrency: int = 20
    page_concurrency: int = 20
    feed_timeouts: FetchTimeouts = field(default_factory=lambda: FetchTimeouts(connect=5, read=10, total=20))
    page_timeouts: FetchTimeouts = field(default_factory=lambda: FetchTimeouts(connect=5, read=10, total=15))
    feed_max_bytes: int = 5_000_000
    page_max_bytes: int = 3_000_000
    feed_deadline: float = 90.0  # everything one feed may take in a cycle: feed, pages, extraction
    max_items_per_poll: int = 100
    backoff_cap: float = 3600.0


@dataclass(frozen=True)
class FeedOutcome:
    """What one poll of one feed did, for logs, the CLI and /feeds."""

    feed: Feed
    new_articles: int = 0
    announced: bool = False
    not_modified: bool = False
    error: str | None = None


@dataclass(frozen=True)
class FeedAdded:
    """The result of adding a feed: the first fetch's outcome, or None when it was already listed."""

    feed: Feed
    created: bool
    outcome: FeedOutcome | None
    changed: bool = False  # a listed feed got new options
    section: Section | None = None


MAX_FEED_URL = 2048


def feed_key(url: str) -> str | None:
    """The normalised form of an http(s) feed URL, or None when it is not one."""
    url = url.strip()
    if (
        not url.lower().startswith(("http://", "https://"))
        or len(url) > MAX_FEED_URL
        or http_url_parts(url) is None  # "http://[abc", port 99999: not a URL, never a traceback
    ):
        return None
    key = normalize_url(url)
    return key if key.lower().startswith(("http://", "https://")) and http_url_parts(key) else None


def item_guid(feed_url_key: str, entry: FeedEntry) -> str | None:
    """The item's guid as stored: URI guids are global, others only unique within their feed."""
    if not entry.guid:
        return None
    return entry.guid if _GLOBAL_GUID.match(entry.guid) else f"{feed_url_key}#{entry.guid}"


def item_title(entry: FeedEntry) -> str:
    """The item's headline when its page gives none: its title, else its text's first line, else its link."""
    first_line = next(iter(entry.summary.splitlines()), "")[:200]
    return entry.title or first_line or entry.link or ""


def item_keys(feed_url_key: str, entry: FeedEntry) -> ArticleKeys:
    """Guid or link; an item with neither is its headline and text, exactly as its draft will store them."""
    return article_keys(
        title=item_title(entry), body=entry.summary, url=entry.link, guid=item_guid(feed_url_key, entry)
    )


class FeedPoller:
    """Polls every due feed concurrently; one failing feed never delays or stops the others."""

    def __init__(
        self, store: Store, session: aiohttp.ClientSession, *, interval: float, limits: IngestLimits
    ) -> None:
        self.store = store
        self.session = session
        self.interval = interval
        self.limits = limits
        self._feeds = asyncio.Semaphore(limits.feed_concurrency)
        self._pages = asyncio.Semaphore(limits.page_concurrency)
        self._cycle: asyncio.Task[list[FeedOutcome]] | None = None
        self._pending_pages: dict[str, asyncio.Future[ExtractedArticle | None]] = {}

    @staticmethod
    def open_session(limits: IngestLimits, allow: FetchAllow) -> aiohttp.ClientSession:
        """The guarded content client, sized for the poller's concurrency (allow: NEWSBOT_FETCH_ALLOW)."""
        return open_session(allow, limit=limits.feed_concurrency + limits.page_concurrency)

    @property
    def running(self) -> bool:
        """Whether a cycle is in progress."""
        return self._cycle is not None and not self._cycle.done()

    def start_cycle(self) -> bool:
        """Start a cycle in the background unless one still runs (then this tick is skipped)."""
        if self.running:
            log.info("feed poll skipped: the previous cycle is still running")
            return False
        self._cycle = asyncio.create_task(self.run_cycle(), name="feed-poll-cycle")
        self._cycle.add_done_callback(_log_cycle_failure)
        return True

    async def wait(self) -> None:
        """Wait for the background cycle, if any (tests and benchmarks)."""
        if self._cycle is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._cycle)

    async def stop(self) -> None:
        """Cancel a running cycle so shutdown does not wait for slow servers."""
        if self.running:
            assert self._cycle is not None
            self._cycle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cycle
        for page in list(self._pending_pages.values()):
            page.cancel()

    async def run_cycle(self) -> list[FeedOutcome]:
        """Poll every feed whose backoff has passed, at most feed_concurrency at once."""
        feeds = await self.store.feeds.due(time.time())
        outcomes = await asyncio.gather(*(self._poll_bounded(feed) for feed in feeds))
        fresh = sum(o.new_articles for o in outcomes)
        failed = sum(1 for o in outcomes if o.error)
        log.info("feed poll: %d feeds, %d new articles, %d failed", len(feeds), fresh, failed)
        return list(outcomes)

    async def add_feed(self, url: str, key: str, options: ArticleOptions | None = None) -> FeedAdded:
        """List a feed and fetch it once right away (silently); options given for a listed one change it."""
        configured = await configure_feed(self.store, url.strip(), key, options or ArticleOptions())
        outcome = await self.poll(configured.feed) if configured.created else None
        return FeedAdded(configured.feed, configured.created, outcome, configured.changed, configured.section)

    async def _poll_bounded(self, feed: Feed) -> FeedOutcome:
        async with self._feeds:
            return await self.poll(feed)

    async def poll(self, feed: Feed) -> FeedOutcome:
        """Fetch one feed within its deadline; failures are recorded and logged, never raised."""
        started = time.time()
        try:
            async with asyncio.timeout(self.limits.feed_deadline):
                return await self._poll(feed, started)
        except (FetchError, FeedParseError) as error:
            reason = str(error)
        except TimeoutError:
            reason = f"feed not done within {self.limits.feed_deadline:g} s"
        except Exception as error:  # a bug or an odd library error must not stop the other feeds
            log.exception("feed %s: unexpected error", feed.url)
            reason = f"internal error: {type(error).__name__}"
        failures = feed.failures + 1
        delay = min(self.limits.backoff_cap, self.interval * 2**failures)
        log.warning("feed %s failed (%d in a row, next try in %g s): %s", feed.url, failures, delay, reason)
        await self.store.feeds.record_failure(
            feed.id, now=started, error=reason, next_fetch_at=started + delay
        )
        failed = await self.store.feeds.get(feed.id)
        return FeedOutcome(failed or feed, error=reason)

    async def _poll(self, feed: Feed, started: float) -> FeedOutcome:
        limits = self.limits
        result = await fetch(
            self.session,
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            max_bytes=limits.feed_max_bytes,
            timeout=limits.feed_timeouts,
        )
        if result.status == 304:
            await self.store.feeds.record_success(
                feed.id,
                now=started,
                title=None,
                etag=result.etag or feed.etag,
                last_modified=result.last_modified or feed.last_modified,
            )
            return FeedOutcome(feed, not_modified=True)
        parsed = await asyncio.to_thread(
            parse_feed, result.body, charset=result.charset, content_type=result.content_type, url=result.url
        )
        if parsed.bozo_reason:
            log.info("feed %s is malformed but usable: %s", feed.url, parsed.bozo_reason)
        key = feed_key(feed.url) or feed.url
        fresh: list[FeedEntry] = []
        changed: list[tuple[int, FeedEntry]] = []  # items already published that their feed changed
        for entry in parsed.entries[: limits.max_items_per_poll]:
            if not await self._known(key, entry):
                fresh.append(entry)
            elif (article_id := await self._changed(feed, key, entry)) is not None:
                changed.append((article_id, entry))
        # Feeds list newest first; announce oldest first so readers get the news in order.
        oldest_first = sorted(reversed(fresh), key=lambda e: e.published or _UNDATED)
        drafts = [
            asyncio.ensure_future(self._draft(feed, key, entry, parsed.language)) for entry in oldest_first
        ]
        created = 0
        try:  # pages load concurrently; publishing in order keeps what is done if the deadline strikes
            for draft in drafts:
                created += (await publish(self.store, await draft, announce=feed.primed)).created
        finally:
            for draft in drafts:
                draft.cancel()
        for article_id, entry in changed:
            await self._correct(feed, key, article_id, entry, parsed.language)
        await self.store.feeds.record_success(
            feed.id, now=started, title=parsed.title, etag=result.etag, last_modified=result.last_modified
        )
        return FeedOutcome(feed, new_articles=created, announced=feed.primed)

    async def _known(self, key: str, entry: FeedEntry) -> bool:
        """Seen before under its guid or normalised link, or (with neither) its headline and text."""
        keys = item_keys(key, entry)
        return await self.store.articles.is_known(
            guid=keys.guid, url_key=keys.url_key, content_hash=keys.content_hash
        )

    async def _changed(self, feed: Feed, key: str, entry: FeedEntry) -> int | None:
        """The article a known item (by guid or link) belongs to, if the feed changed the item since."""
        keys = item_keys(key, entry)
        if keys.guid is None and keys.url_key is None:
            return None  # known by its text: a changed text is a new item
        state = await self.store.articles.item_state(feed.id, guid=keys.guid, url_key=keys.url_key)
        if state is None:
            return None
        article_id, stored = state
        fingerprint = item_key(item_title(entry), entry.summary, entry.link)
        if stored == fingerprint:
            return None
        if stored is None:  # stored before corrections were tracked: remember it as it is now
            async with self.store.db.transaction() as tx:
                await self.store.articles.set_item_key(tx, article_id, fingerprint)
            return None
        return article_id

    async def _correct(
        self, feed: Feed, key: str, article_id: int, entry: FeedEntry, feed_language: str | None
    ) -> None:
        """The item changed: take its new headline and text; readers' copies are edited if they differ."""
        draft = await self._draft(feed, key, entry, feed_language)
        result = await correct(self.store, article_id, draft.title, draft.body, utc_now())
        async with self.store.db.transaction() as tx:
            await self.store.articles.set_item_key(tx, article_id, draft.item_key or "")
        if result.changed:
            log.info("feed %s corrected article %d; %d copies to edit", feed.url, article_id, result.edits)

    async def _draft(self, feed: Feed, key: str, entry: FeedEntry, feed_language: str | None) -> ArticleDraft:
        """The item with its page's full text, or with the feed's own summary when the page fails.

        Language: the operator's for this feed, else the item's or feed's own, else the page's, else
        None (NEWSBOT_DEFAULT_LANGUAGE); section and breaking mark are the feed's.
        """
        page = await self._page(entry.link) if entry.link else None
        title = (page.title if page else "") or item_title(entry)
        draft = make_draft(
            title=title,
            body=page.text if page else entry.summary,
            published=entry.published or (page.published if page else None),
            source="feed",
            url=entry.link,
            guid=item_guid(key, entry),
            language=first_language(feed.language, entry.language, feed_language, page and page.language),
            section_id=feed.section_id,
            breaking=feed.breaking,
        )
        image_url = entry.image_url or (page.image_url if page else None)
        fingerprint = item_key(item_title(entry), entry.summary, entry.link)
        return replace(draft, feed_id=feed.id, image_url=image_url, item_key=fingerprint)

    async def _page(self, url: str) -> ExtractedArticle | None:
        """One fetch per page even when several feeds list it in the same cycle."""
        key = normalize_url(url)
        pending = self._pending_pages.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_page(url))
            self._pending_pages[key] = pending
            pending.add_done_callback(lambda _done: self._pending_pages.pop(key, None))
        return await asyncio.shield(pending)  # a feed hitting its deadline leaves the page to the others

    async def _fetch_page(self, url: str) -> ExtractedArticle | None:
        """Fetch and extract one article page; None (logged) when it cannot be read."""
        async with self._pages:
            try:
                result = await fetch(
                    self.session, url, max_bytes=self.limits.page_max_bytes, timeout=self.limits.page_timeouts
                )
                if result.status != 200:
                    raise FetchError(f"HTTP {result.status}")
                return await asyncio.to_thread(
                    extract_article, result.body, result.url, charset=result.charset
                )
            except (FetchError, ExtractionError) as error:
                log.info("page %s: %s; keeping the feed's summary", url, error)
            except Exception:  # one odd page must not cost the feed its other items
                log.exception("page %s: unexpected error; keeping the feed's summary", url)
            return None


def _log_cycle_failure(cycle: asyncio.Task[object]) -> None:
    """A cycle runs in the background: its failure is logged here, or nobody would see it."""
    if not cycle.cancelled() and cycle.exception() is not None:
        log.error("feed poll cycle failed", exc_info=cycle.exception())
