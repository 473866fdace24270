"""Referral storage and the /stats partial, on a real SQLite file."""

from __future__ import annotations

import pytest

from bot.render import Renderer
from storage import Store
from storage.models import ReferrerStat


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    yield store
    await store.close()


async def test_a_reader_has_one_stable_code_and_codes_identify_their_owner(store):
    code = await store.referrals.code_for(1)
    assert await store.referrals.code_for(1) == code
    assert await store.referrals.code_for(2) != code
    assert await store.referrals.referrer_for(code) == 1
    assert await store.referrals.referrer_for("nobodys1") is None


async def test_only_new_readers_count_once_for_the_first_referrer_and_never_for_themselves(store):
    alice, bob = await store.referrals.code_for(1), await store.referrals.code_for(2)
    await store.chats.touch(1, "private", "tr")
    assert not await store.referrals.record_new_reader(1, alice, None)  # herself
    assert not await store.referrals.record_new_reader(10, "unknown1", None)  # nobody's code
    assert await store.referrals.record_new_reader(10, alice, 5)
    assert not await store.referrals.record_new_reader(10, bob, None)  # first referrer wins
    await store.chats.touch(11, "private", "tr")
    assert not await store.referrals.record_new_reader(11, bob, None)  # already known to the bot
    assert (await store.referrals.counts_for(1)).friends == 1
    assert (await store.referrals.counts_for(2)).friends == 0


async def test_stats_count_active_invited_subscribers_and_rank_sharers(store):
    alice, bob = await store.referrals.code_for(1), await store.referrals.code_for(2)
    for friend, code in ((10, alice), (11, alice), (12, alice), (20, bob), (21, bob)):
        await store.referrals.record_new_reader(friend, code, None)
        await store.chats.touch(friend, "private", "tr")
    for friend in (10, 11, 20):
        await store.chats.subscribe(friend)
    await store.chats.mark_reachable(11, False)  # blocked the bot: no longer an active subscriber
    await store.chats.touch(3, "private", "tr")
    await store.chats.subscribe(3)  # subscribed without an invitation
    assert await store.referrals.invited_subscriber_count() == 2
    assert await store.referrals.top_referrers(10) == [ReferrerStat(1, 3, 1), ReferrerStat(2, 2, 1)]
    assert await store.referrals.top_referrers(1) == [ReferrerStat(1, 3, 1)]
    counts = await store.referrals.counts_for(1)
    assert (counts.friends, counts.subscribers) == (3, 1)


@pytest.mark.parametrize(
    ("lang", "heading", "empty"), [("en", "Sharing", "Nobody has"), ("tr", "Paylaşım", "Henüz kimse")]
)
def test_the_stats_partial_renders_in_both_languages(lang, heading, empty):
    renderer = Renderer()
    text = renderer.message(
        lang,
        "stats_sharing",
        invited_subscribers=7,
        top_referrers=[ReferrerStat(1001, 5, 3), ReferrerStat(1002, 2, 0)],
    )
    assert text.startswith(f"<b>{heading}</b>")
    assert ": 7" in text
    assert "1. <code>1001</code> — 5 / 3" in text and "2. <code>1002</code> — 2 / 0" in text
    nothing = renderer.message(lang, "stats_sharing", invited_subscribers=0, top_referrers=[])
    assert empty in nothing
