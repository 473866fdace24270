"""Digests and the end of quiet hours: what each due reader gets, queued as shared broadcasts.

Both run from the per-minute job (bot/readers/jobs.py) on the chats their partial indexes say are due. A
chunk of due readers is queued and moved on (digest_next/digest_after, quiet_next_end) in one transaction,
so a crash or a restart never loses or repeats a slot, and a slot missed while the bot was down is served
by the first run after it. Readers who would get the same message share one broadcast, rendered once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.readers.schedule import minute_of_day, next_quiet_end, next_slot, stored_minutes
from bot.render import Renderer
from bot.views import RenderedMessage, render_digest
from storage import Store
from storage.models import DigestCandidate, DigestContent, DigestProfile

DIGEST_LISTED = 10  # headlines in one digest message; the rest are counted ("N more")
RELEASE_ONE_BY_ONE = (
    3  # after quiet hours, up to this many held articles come one by one, more as one message
)
LATEST_HINT = 10  # "N more: /latest 10" (/latest lists at most 10)
BATCH = 5_000  # due digest readers per transaction: about 100-200 ms of write lock each
QUIET_BATCH = 2_000  # readers whose quiet hours ended, per transaction (their releases write more)
QUIET_MARGIN = 600.0  # seconds before quiet hours began an article may have been created and still held


@dataclass(frozen=True)
class RunReport:
    """What one run of a job did, for its log line and the benchmark."""

    readers: int = 0  # due readers moved on
    queued: int = 0  # deliveries queued
    broadcasts: int = 0  # distinct messages (shared digests) among them


def plan_digest(
    candidates: list[DigestCandidate], profile: DigestProfile, listed: int = DIGEST_LISTED
) -> DigestContent:
    """A profile's digest: its articles since the last digest, followed and breaking first, then newest."""
    languages = set(profile.languages.split(","))
    follows = set(profile.follows.split("|")) - {""}
    picked = []
    for article in candidates:
        if article.id <= profile.after or article.language not in languages:
            continue
        followed = bool(follows & article.matches)
        if article.breaking or followed or f",{article.section_id}," not in profile.muted:
            picked.append((not (article.breaking or followed), -article.id, article.id))
    picked.sort()
    return DigestContent(tuple(item[2] for item in picked[:listed]), max(0, len(picked) - listed))


def plan_held(ids: str, listed: int = DIGEST_LISTED) -> DigestContent:
    """The one message for many held articles ("9,7,5,..." already in order): the first `listed`, and more."""
    numbers = [int(part) for part in ids.split(",") if part]
    return DigestContent(tuple(numbers[:listed]), max(0, len(numbers) - listed))


async def queue_due_digests(store: Store, now: float, *, batch: int = BATCH) -> RunReport:
    """Queue every due digest (one shared broadcast per distinct content) and move those readers on."""
    minute = minute_of_day(now)
    readers = queued = 0
    contents: set[tuple[float, DigestContent]] = set()
    while True:
        async with store.db.transaction() as tx:
            due = await store.routing.digest_batch(tx, now, minute, batch)
            if due is None:
                break
            plans = {profile: plan_digest(due.candidates, profile) for profile in due.profiles}
            next_slots = {times: next_slot(stored_minutes(times), now) for times in due.times}
            queued += await store.routing.queue_digests(tx, due, plans, next_slots)
        readers += due.readers
        contents.update((p.slot, c) for p, c in plans.items() if c.article_ids)
        if due.readers < batch:
            break
        await asyncio.sleep(0)  # replies and outcomes between chunks
    return RunReport(readers, queued, len(contents))


async def release_quiet(store: Store, now: float, *, batch: int = QUIET_BATCH) -> RunReport:
    """Readers whose quiet hours ended get what was held: a few articles one by one, more as one message."""
    slot = now - now % 60
    readers = queued = 0
    lists: set[str] = set()
    while True:
        async with store.db.transaction() as tx:
            due = await store.routing.quiet_batch(
                tx, now, batch, individually=RELEASE_ONE_BY_ONE, margin=QUIET_MARGIN
            )
            if due is None:
                break
            plans = {ids: plan_held(ids) for ids in due.lists}
            next_ends = {(start, end): next_quiet_end(start, end, now) for start, end in due.quiet_hours}
            queued += due.released + await store.routing.finish_quiet(tx, plans, slot, next_ends)
        readers += due.readers
        lists.update(due.lists)
        if due.readers < batch:
            break
        await asyncio.sleep(0)
    return RunReport(readers, queued, len(lists))


def digest_renderer(
    store: Store, renderer: Renderer
) -> Callable[[str, str], Awaitable[RenderedMessage | None]]:
    """Broadcast kind "digest": ref names a stored content; None when none of its articles is left."""

    async def render(ref: str, lang: str) -> RenderedMessage | None:
        content = await store.routing.digest(ref)
        if content is None:
            return None
        articles = [a for a in [await store.articles.get(i) for i in content.article_ids] if a is not None]
        if not articles:
            return None
        breaking = await store.routing.breaking([a.id for a in articles])
        return render_digest(
            renderer, lang, articles, more=content.more, breaking=breaking, latest=LATEST_HINT
        )

    return render
