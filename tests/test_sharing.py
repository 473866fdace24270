"""Sharing with friends: Share button, inline mode, deep links, invitations, told as conversations."""

from __future__ import annotations

import asyncio
import re
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.drafts import make_draft
from bot.publishing import publish
from handlers.inline import PAGE_SIZE
from tests.conversation import Reader, buttons
from tests.fake_telegram import FakeBotAPI, InlineAnswer, inline_query_update

BOT = "newsbot_test_bot"
DEEP_LINK = re.compile(rf"https://t\.me/{BOT}\?start=([A-Za-z0-9_-]{{1,64}})")


async def add_article(app, title="Diaspora <b>statement</b> & more", body="A statement. " * 20, n=1):
    result = await publish(
        app.bot_data.store,
        make_draft(
            title=title,
            body=body,
            published=date(2023, 7, 31),
            source="import",
            url=f"https://news.example/{n}",
        ),
    )
    return result.article


async def inline(reader: Reader, query: str, offset: str = "") -> InlineAnswer:
    """Type "@bot query" as this reader and return Telegram's record of the bot's answer."""
    update = inline_query_update(reader.user, query, offset)
    await reader.deliver(update)
    answer = reader.api.inline_answers.get(update["inline_query"]["id"])
    assert answer is not None, f"inline query {query!r} (offset {offset!r}) was not answered"
    return answer


def open_in_bot_link(result: dict) -> str:
    rows = result["reply_markup"]["inline_keyboard"]
    [url] = [b["url"] for row in rows for b in row if b["text"] in ("Open in the bot", "Botta aç")]
    return url


@pytest.fixture
def friend(app, telegram: FakeBotAPI) -> Reader:
    """Mehmet, who has never talked to the bot."""
    return Reader(app, telegram, 2001, language_code="tr", first_name="Mehmet")


async def test_a_shared_article_reaches_a_friend_who_subscribes_and_the_sharer_is_credited(
    reader: Reader, friend: Reader, app
):
    article = await add_article(app)
    # Ayşe reads the newest article; under it: Read on the site, and Share.
    message = await reader.says("/latest")
    assert message.protect_content is False
    share = next(b for b in buttons(message) if b["text"] == "Paylaş")
    assert share["switch_inline_query"] == f"#{article.id}"
    # Telegram opens the chat picker with "@newsbot_test_bot #12" typed in: the bot offers that article.
    answer = await inline(reader, share["switch_inline_query"])
    [card] = answer.results
    assert card["type"] == "article" and card["title"] == article.title
    assert "31 Temmuz 2023" in card["description"]
    assert card["input_message_content"]["parse_mode"] == "HTML"
    assert "&lt;b&gt;statement&lt;/b&gt;" in card["input_message_content"]["message_text"]
    assert answer.is_personal
    link = open_in_bot_link(card)
    payload = DEEP_LINK.fullmatch(link).group(1)
    assert str(reader.user["id"]) not in payload  # the invite code is opaque
    # Mehmet taps "Botta aç": Telegram sends /start <payload>; he sees the article and a Subscribe button.
    shown = await friend.says(f"/start {payload}")
    assert shown.plain.startswith(article.title)
    assert [b["text"] for b in buttons(shown)] == ["Sitede oku", "Paylaş", "Abone ol"]
    # He subscribes on the spot; the button is answered, removed, and the subscription confirmed.
    replies = await friend.presses("Abone ol", on=shown)
    assert any("Abone oldunuz" in m.plain for m in replies)
    edited = [m for m in replies if m.method == "editMessageReplyMarkup"]
    assert [b["text"] for b in buttons(edited[0])] == ["Sitede oku", "Paylaş"]
    assert (await app.bot_data.store.chats.get(friend.chat_id)).active
    # Ayşe's /invite says one friend joined through her links and is subscribed.
    invite = await reader.says("/invite")
    assert "Bağlantılarınızla 1 arkadaşınız katıldı, 1 tanesi abone." in invite.plain
    store = app.bot_data.store
    assert await store.referrals.invited_subscriber_count() == 1
    [top] = await store.referrals.top_referrers(10)
    assert (top.user_id, top.friends, top.subscribers) == (reader.user["id"], 1, 1)


async def test_every_article_message_can_be_shared_in_both_languages(english_reader: Reader, reader, app):
    article = await add_article(app)
    for who, labels in ((english_reader, ["Read on the site", "Share"]), (reader, ["Sitede oku", "Paylaş"])):
        message = await who.says(f"/article {article.id}")
        assert [b["text"] for b in buttons(message)] == labels
        assert buttons(message)[1]["switch_inline_query"] == f"#{article.id}"
        assert not message.protect_content


async def test_invite_gives_a_personal_link_and_counts_each_friend_once(
    english_reader: Reader, friend: Reader, reader: Reader, app, telegram
):
    first = await english_reader.says("/invite")
    assert "No friend has joined" in first.plain
    link = DEEP_LINK.search(first.plain).group(0)
    assert link == DEEP_LINK.search((await english_reader.says("/invite")).plain).group(0)  # stable
    [send] = buttons(first)
    assert send["url"].startswith("https://t.me/share/url?")
    payload = DEEP_LINK.fullmatch(link).group(1)
    # A new reader opens it twice, and then another reader's link: John keeps the one friend.
    assert "Hoş geldiniz" in (await friend.says(f"/start {payload}")).plain
    await friend.says(f"/start {payload}")
    other = DEEP_LINK.search((await reader.says("/invite")).plain).group(1)
    await friend.says(f"/start {other}")
    # Nobody refers themselves, and a reader the bot already knew does not count as joining.
    await english_reader.says(f"/start {payload}")
    await reader.says(f"/start {payload}")
    answer = (await english_reader.says("/invite")).plain
    assert "1 friend joined through your links, 0 of them are subscribed." in answer
    assert "Bağlantılarınızla henüz" in (await reader.says("/invite")).plain
    await friend.presses("Abone ol")
    assert "1 of them is subscribed" in (await english_reader.says("/invite")).plain


async def test_a_subscriber_who_opens_a_shared_article_gets_no_subscribe_button(reader: Reader, app):
    article = await add_article(app)
    store = app.bot_data.store
    for _ in range(600):  # the engine queues the article's audience (nobody yet) before Ayşe subscribes
        if not await store.outbox.filling():
            break
        await asyncio.sleep(0.05)
    await reader.says("/subscribe")
    shown = await reader.says(f"/start a{article.id}")
    assert [b["text"] for b in buttons(shown)] == ["Sitede oku", "Paylaş"]


@pytest.mark.parametrize("payload", ["a999", "a0", "a12-", "rABC", "a1-rTOOLONGCODE", "weird_but-valid"])
async def test_unknown_or_deleted_articles_and_bad_payloads_fall_back_to_the_welcome(
    english_reader: Reader, app, payload
):
    await add_article(app)
    assert "Welcome" in (await english_reader.says(f"/start {payload}")).plain
    assert await app.bot_data.store.referrals.top_referrers(10) == []


async def test_inline_empty_query_pages_through_the_latest_articles(reader: Reader, app):
    for n in range(45):
        await add_article(app, title=f"Headline {n}", n=n)
    seen, offset, pages = [], "", 0
    for _ in range(10):
        answer = await inline(reader, "", offset)
        pages += 1
        seen += [r["id"] for r in answer.results]
        assert len(answer.results) <= PAGE_SIZE
        if not answer.next_offset:
            break
        offset = answer.next_offset
    assert pages == 3  # and the last page says "no more" with an empty next_offset
    assert len(seen) == len(set(seen)) == 45
    assert answer.cache_time and 30 <= answer.cache_time <= 60


async def test_inline_words_search_headlines_and_text_the_turkish_way(english_reader: Reader, app):
    await add_article(app, title="İstanbul'da deprem tatbikatı", body="Valilik açıkladı.", n=1)
    await add_article(app, title="Ankara weather", body="Sunny and ŞIK.", n=2)
    for query in ("istanbul", "ISTANBUL", "tatbikati", "deprem İSTANBUL", "valilik"):
        assert [r["title"] for r in (await inline(english_reader, query)).results] == [
            "İstanbul'da deprem tatbikatı"
        ], query
    assert [r["title"] for r in (await inline(english_reader, "sik")).results] == ["Ankara weather"]
    for query in ("%", "_", "' OR 1=1 --", "deprem ankara", "*"):
        assert (await inline(english_reader, query)).results == [], query


async def test_inline_article_numbers_and_unknown_numbers(english_reader: Reader, app):
    article = await add_article(app)
    for query in (str(article.id), f"#{article.id}", f"  #{article.id} "):
        [card] = (await inline(english_reader, query)).results
        assert card["id"] == f"a{article.id}"
        assert DEEP_LINK.fullmatch(open_in_bot_link(card))
    assert (await inline(english_reader, "#987654")).results == []
    assert (await inline(english_reader, f"#{article.id}", offset="20")).results == []


@pytest.mark.parametrize("offset", ["abc", "-20", "99999999999", "1001", "٣"])
async def test_inline_odd_offsets_get_an_empty_answer(english_reader: Reader, app, offset):
    await add_article(app)
    answer = await inline(english_reader, "", offset)
    assert (answer.results, answer.next_offset) == ([], "")


async def test_a_long_article_card_stays_within_telegrams_limits(english_reader: Reader, app):
    await add_article(app, title="T" * 5000, body="Wörd 🎉 " * 3000)
    [card] = (await inline(english_reader, "")).results
    assert len(card["title"]) <= 150 and len(card["description"]) <= 200
    assert len(card["input_message_content"]["message_text"]) < 4096


@given(query=st.text(max_size=256))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_any_inline_query_gets_a_valid_answer(english_reader: Reader, app, telegram, query):
    if await app.bot_data.store.articles.count() == 0:
        await add_article(app, title="Kuzey <Kıbrıs> & 'quotes' \"too\"", body="Metin 🎉 %_ * <b>")
    rejected = len([r for r in telegram.requests if r.status != 200])
    answer = await inline(english_reader, query)
    assert len(answer.results) <= 50
    for result in answer.results:
        assert DEEP_LINK.fullmatch(open_in_bot_link(result))
    assert len([r for r in telegram.requests if r.status != 200]) == rejected


async def test_a_friend_who_tried_inline_mode_first_still_counts_when_opening_the_link(
    english_reader: Reader, friend: Reader
):
    payload = DEEP_LINK.search((await english_reader.says("/invite")).plain).group(1)
    await inline(friend, "")
    await friend.says(f"/start {payload}")
    assert "1 friend joined through your links" in (await english_reader.says("/invite")).plain
