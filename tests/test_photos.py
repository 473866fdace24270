"""Lead photos: found in feeds and pages, fetched once, uploaded once, sent as photos, or the text instead."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import Update
from telegram.ext import Application

from bot.drafts import make_draft
from bot.feed_polling import POLLER
from bot.publishing import publish
from bot.render import Renderer
from bot.settings import Settings
from bot.sources.extract import extract_article
from bot.sources.feeds import parse_feed
from bot.text import CAPTION_LIMIT, cut_text, utf16_len, visible_len
from bot.views import article_text
from storage import Store
from storage.models import Article
from tests.conftest import ADMIN_ID, running
from tests.conversation import Reader
from tests.fake_telegram import FakeBotAPI, inline_query_update, make_user, photo_update
from tests.news_site import NewsSite, article_page

IMAGE_PATH = "/img/lead.png"
RENDERER = Renderer()
# A long body with Turkish letters and an emoji (two UTF-16 units): the caption must be cut within 1,024.
BODY = " ".join(
    f"Çankırı'da {n}. gün açıklaması 📸 sürüyor ve ayrıntılar yetkililerce değerlendiriliyor"
    for n in range(60)
)


def make_png(width: int = 64, height: int = 48) -> bytes:
    """A real, decodable RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Application]:
    """The bot with a 50 ms send margin: the fake Bot API shares the event loop (as in test_delivery)."""
    async with running(settings, send_margin=0.05) as application:
        yield application


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    async with NewsSite() as site:
        yield site


async def subscribe(store: Store, ids: list[int]) -> None:
    await store.db.executemany(
        "INSERT INTO chats (chat_id, chat_type, language_code, subscribed) VALUES (?, 'private', 'tr', 1)",
        [(chat_id,) for chat_id in ids],
    )


async def publish_with_photo(
    store: Store, image_url: str | None, *, title: str = "Valilikten açıklama"
) -> int:
    draft = make_draft(
        title=title,
        body=BODY,
        published=datetime(2026, 3, 10, 9, 30, tzinfo=UTC),
        source="import",
        url=f"https://site.example/news/{abs(hash(title))}",
    )
    result = await publish(store, replace(draft, image_url=image_url))
    assert result.created
    return result.article.id


async def settle(app: Application, timeout: float = 60.0) -> None:
    store, engine = app.bot_data.store, app.bot_data.delivery
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await store.outbox.pending_count() == 0 and not engine.in_flight:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries still pending")


def ends_at_boundary(teaser: str, body: str) -> bool:
    """The teaser is the body, or its beginning cut before a space (with "…") or after a sentence."""
    if teaser == body:
        return True
    prefix = teaser.removesuffix("…")
    after = body[len(prefix) : len(prefix) + 1]
    if teaser.endswith("…"):  # cut between words (trailing punctuation dropped)
        return body.startswith(prefix) and after != "" and after in " \n,;:-–—"
    return body.startswith(prefix) and after.isspace() and prefix[-1:] in ".!?…\"'”’»)"  # a sentence end


def photo_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lead photo" in r.getMessage()]


async def test_a_photo_article_reaches_200_subscribers_with_one_download_and_one_upload(
    app: Application, telegram: FakeBotAPI, site: NewsSite, reader: Reader
):
    store: Store = app.bot_data.store
    site.raw(IMAGE_PATH, make_png(), content_type="image/png")
    await subscribe(store, list(range(10_000, 10_200)))
    article_id = await publish_with_photo(store, site.url(IMAGE_PATH))
    app.bot_data.delivery.wake()
    await settle(app)

    photos = [m for m in telegram.sent if m.method == "sendPhoto"]
    assert len(photos) == 200 and {m.chat_id for m in photos} == set(range(10_000, 10_200))
    assert telegram.upload_attempts == 1 and len(telegram.uploads) == 1
    assert len(site.seen(IMAGE_PATH)) == 1
    assert len({m.file_id for m in photos}) == 1 and sum(m.uploaded for m in photos) == 1
    assert not [m for m in telegram.sent if m.method == "sendMessage" and m.chat_id >= 10_000]
    caption = photos[0].plain or ""
    assert "Valilikten açıklama" in caption and utf16_len(caption) <= CAPTION_LIMIT
    assert ends_at_boundary(caption.split("\n\n")[1], BODY)
    labels = [b["text"] for row in photos[0].reply_markup["inline_keyboard"] for b in row]
    assert any("Share" in label or "Paylaş" in label for label in labels)
    stored = await store.articles.get(article_id)
    assert stored is not None and stored.photo_file_id == photos[0].file_id and stored.photo_error is None
    assert not telegram.violations

    # Readers asking later get the same file_id: no new download, no new upload.
    for command in ("/latest", f"/article {article_id}"):
        answer = await reader.says(command)
        assert answer.method == "sendPhoto" and answer.file_id == photos[0].file_id and not answer.uploaded
    assert telegram.upload_attempts == 1 and len(site.seen(IMAGE_PATH)) == 1


@pytest.mark.parametrize("kind", ["404", "html", "11 MB", "not decodable"])
async def test_a_broken_image_falls_back_to_text_with_one_log_line(
    app: Application, telegram: FakeBotAPI, site: NewsSite, caplog: pytest.LogCaptureFixture, kind: str
):
    store: Store = app.bot_data.store
    if kind == "html":
        site.raw(IMAGE_PATH, b"<html>an error page</html>", content_type="text/html")
    elif kind == "11 MB":
        site.raw(IMAGE_PATH, b"\xff\xd8" + b"\0" * (11 * 1024 * 1024), content_type="image/jpeg")
    elif kind == "not decodable":
        site.raw(IMAGE_PATH, b"\x89PNG\r\n\x1a\n broken", content_type="image/png")
    await subscribe(store, list(range(20_000, 20_012)))
    caplog.set_level(logging.INFO)
    article_id = await publish_with_photo(store, site.url(IMAGE_PATH))
    app.bot_data.delivery.wake()
    await settle(app)

    texts = [m for m in telegram.sent if m.method == "sendMessage" and m.chat_id >= 20_000]
    assert len(texts) == 12 and not [m for m in telegram.sent if m.method == "sendPhoto"]
    assert "Valilikten açıklama" in (texts[0].plain or "")
    assert len(site.seen(IMAGE_PATH)) == 1
    assert len(photo_logs(caplog)) == 1, photo_logs(caplog)
    assert telegram.upload_attempts == (1 if kind == "not decodable" else 0)
    stored = await store.articles.get(article_id)
    assert stored is not None and stored.photo_error and stored.photo_file_id is None
    expected = {"404": "HTTP 404", "html": "not an image", "11 MB": "larger than", "not decodable": "refused"}
    assert expected[kind] in stored.photo_error


async def test_an_image_at_a_private_address_is_refused_by_the_guard(
    app: Application, telegram: FakeBotAPI, caplog: pytest.LogCaptureFixture
):
    store: Store = app.bot_data.store
    await subscribe(store, [30_001, 30_002])
    caplog.set_level(logging.INFO)
    article_id = await publish_with_photo(store, "http://10.0.0.5/lead.png")
    app.bot_data.delivery.wake()
    await settle(app)
    assert [m.method for m in telegram.sent if m.chat_id in (30_001, 30_002)] == ["sendMessage"] * 2
    stored = await store.articles.get(article_id)
    assert stored is not None and "refused" in (stored.photo_error or "") and "private" in stored.photo_error
    assert len(photo_logs(caplog)) == 1


async def test_an_operator_posts_a_photo_with_the_statement_as_its_caption(
    app: Application, telegram: FakeBotAPI, reader: Reader
):
    await reader.says("/subscribe")
    admin = make_user(ADMIN_ID, first_name="Operator", language_code="en")
    sizes = telegram.user_photo(make_png(), ADMIN_ID)
    answers = await Reader(app, telegram, ADMIN_ID, language_code="en").deliver(
        photo_update(admin, "/post Fotoğraflı açıklama\nValilik bugün bir açıklama yaptı.", sizes)
    )
    assert len(answers) == 1 and "#" in (answers[0].plain or "")
    await settle(app)
    [sent] = [m for m in telegram.sent if m.chat_id == reader.chat_id and m.method == "sendPhoto"]
    assert sent.file_id == sizes[-1]["file_id"] and not sent.uploaded
    assert "Fotoğraflı açıklama" in (sent.plain or "")
    assert telegram.upload_attempts == 0


async def test_inline_results_show_the_photo(app: Application, telegram: FakeBotAPI, site: NewsSite):
    store: Store = app.bot_data.store
    site.raw(IMAGE_PATH, make_png(), content_type="image/png")
    await subscribe(store, [40_001])
    engine = app.bot_data.delivery
    await engine.stop()  # held back, so the first card is shown before the photo was ever uploaded
    article_id = await publish_with_photo(store, site.url(IMAGE_PATH))
    user = make_user(4242, first_name="Ali", language_code="tr")

    async def card() -> dict:
        update = inline_query_update(user, str(article_id))
        await app.process_update(Update.de_json(update, app.bot))
        return telegram.inline_answers[update["inline_query"]["id"]].results[0]

    before = await card()
    assert before["type"] == "article" and before["thumbnail_url"] == site.url(IMAGE_PATH)
    await engine.start()
    await settle(app)
    after = await card()
    assert after["type"] == "photo" and after["photo_file_id"] == telegram.uploads[0].result[-1]["file_id"]
    assert not telegram.violations


OG_PAGE_HEAD = "<head><meta charset='utf-8'>"


def page_with(meta: str) -> str:
    html = article_page("Valilikten açıklama", [BODY[:600]], datetime(2026, 3, 10).date())
    return html.replace(OG_PAGE_HEAD, OG_PAGE_HEAD + meta, 1)


def test_og_image_and_twitter_image_are_found_on_the_page():
    og = extract_article(
        page_with("<meta property='og:image' content='/images/lead.jpg'>"), "https://s.example/a/1"
    )
    assert og.image_url == "https://s.example/images/lead.jpg"
    tw = extract_article(
        page_with("<meta name='twitter:image' content='https://cdn.example/t.png'>"), "https://s.example/a"
    )
    assert tw.image_url == "https://cdn.example/t.png"
    none = extract_article(
        page_with("<meta property='og:image' content='javascript:alert(1)'>"), "https://s.example/a"
    )
    assert none.image_url is None


MEDIA_RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>G</title><link>https://s.example/</link>
<description>d</description>
<item><title>Media content</title><link>{link}</link><guid isPermaLink="false">m1</guid>
<media:content url="https://cdn.example/m1.jpg" medium="image" type="image/jpeg"/></item>
<item><title>Thumbnail</title><link>https://s.example/2</link><guid isPermaLink="false">m2</guid>
<media:thumbnail url="https://cdn.example/m2.jpg"/></item>
<item><title>Enclosure</title><link>https://s.example/3</link><guid isPermaLink="false">m3</guid>
<enclosure url="https://cdn.example/m3.png" type="image/png" length="10"/></item>
<item><title>Audio</title><link>https://s.example/4</link><guid isPermaLink="false">m4</guid>
<enclosure url="https://cdn.example/m4.mp3" type="audio/mpeg" length="10"/></item>
</channel></rss>"""


def test_media_content_thumbnail_and_image_enclosures_are_found_in_the_feed():
    parsed = parse_feed(
        MEDIA_RSS.format(link="https://s.example/1").encode(),
        url="https://s.example/rss",
        charset=None,
        content_type="application/rss+xml",
    )
    images = {entry.title: entry.image_url for entry in parsed.entries}
    assert images == {
        "Media content": "https://cdn.example/m1.jpg",
        "Thumbnail": "https://cdn.example/m2.jpg",
        "Enclosure": "https://cdn.example/m3.png",
        "Audio": None,
    }


async def test_feed_media_wins_over_the_pages_og_image_and_the_page_is_used_otherwise(
    app: Application, site: NewsSite
):
    store: Store = app.bot_data.store
    meta = "<meta property='og:image' content='/og.jpg'>"
    link = site.page("/news/1", page_with(meta))
    plain = site.page("/news/2", page_with(meta))
    feed = MEDIA_RSS.format(link=link).replace("https://s.example/2", plain)
    url = site.raw("/rss", feed.encode(), content_type="application/rss+xml")
    poller = app.bot_data.extras[POLLER]
    await poller.add_feed(url, url)
    by_url = {a.url: a.image_url for a in await store.articles.latest(10)}
    assert by_url[link] == "https://cdn.example/m1.jpg"
    assert by_url[plain] == "https://cdn.example/m2.jpg"  # media:thumbnail from the feed comes first too


WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=30
)


@given(
    title=st.text(max_size=600),
    body=st.text(max_size=3000),
    matched=st.none() | st.text(min_size=1, max_size=80),
    lang=st.sampled_from(["tr", "en"]),
)
def test_any_caption_fits_telegrams_1024_and_never_raises(title, body, matched, lang):
    article = Article(1, title or "x", body, "https://s.example/a", datetime(2026, 3, 10, tzinfo=UTC), "feed")
    caption = article_text(RENDERER, lang, article, matched=matched, limit=CAPTION_LIMIT)
    assert visible_len(caption) <= CAPTION_LIMIT


@given(
    words=st.lists(WORDS, min_size=1, max_size=400),
    separators=st.lists(st.sampled_from([" ", "\n", ". ", ", "])),
)
def test_a_cut_caption_ends_at_a_sentence_or_word_boundary(words, separators):
    body = "".join(w + (separators[i % len(separators)] if separators else " ") for i, w in enumerate(words))
    body = body.strip()
    article = Article(1, "Başlık", body, "https://s.example/a", datetime(2026, 3, 10, tzinfo=UTC), "feed")
    caption = article_text(RENDERER, "tr", article, limit=CAPTION_LIMIT)
    assert visible_len(caption) <= CAPTION_LIMIT
    teaser = cut_text(body, 900)
    assert ends_at_boundary(teaser, body), teaser[-40:]
