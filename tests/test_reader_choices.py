"""Readers choose what they get and when: /settings and its buttons, /languages, /topics, /follow,
/digest, /quiet and the mute button under pushed articles; Turkish and English, private chats and groups."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clock import ISTANBUL
from bot.drafts import make_draft
from bot.publishing import publish
from storage import Store
from storage.models import ReaderChoices
from tests.conversation import Reader, buttons
from tests.fake_telegram import FakeBotAPI, SentMessage, callback_update, make_chat
from tests.weather.support import FakeClock

pytestmark = pytest.mark.backends  # on SQLite and on PostgreSQL

DAY = date(2026, 11, 29)


def store_of(app) -> Store:
    return app.bot_data.store


async def choices(app, reader: Reader) -> ReaderChoices:
    found = await store_of(app).readers.choices(reader.chat_id)
    assert found is not None
    return found


async def add_sections(app, *labels: tuple[str, str]) -> list[int]:
    """Sections as the operator's feeds create them (branch `meta` does that at ingest)."""
    ids = []
    for label_tr, label_en in labels:
        ids.append(
            await store_of(app).db.insert(
                "INSERT INTO sections (key, label_tr, label_en) VALUES (?, ?, ?)",
                (label_en.lower(), label_tr, label_en),
            )
        )
    return ids


async def publish_article(app, title: str) -> int:
    draft = make_draft(
        title=title, body="Metin.", published=datetime(2026, 11, 20, tzinfo=UTC), source="import"
    )
    return (await publish(store_of(app), draft)).article.id


def texts(message: SentMessage) -> list[str]:
    return [button["text"] for button in buttons(message)]


def at(hhmm: str, day: date = DAY) -> float:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ISTANBUL).timestamp()


@pytest.fixture
def clock(app) -> FakeClock:
    """Istanbul 29 November 2026, 12:00, for digest and quiet-hours moments."""
    fake = FakeClock(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))
    app.bot_data.clock = fake
    return fake


def edited_in_place(before: SentMessage, after: SentMessage) -> bool:
    return after.method.startswith("edit") and after.message_id == before.message_id


# --- /settings -----------------------------------------------------------------------------------


async def test_settings_shows_every_choice_and_languages_change_in_one_tap(app, english_reader: Reader):
    panel = await english_reader.says("/settings")
    assert "Languages: English" in panel.plain
    for line in ("Sections: all", "Followed words: none", "Digest: off", "Quiet hours: none"):
        assert line in panel.plain
    assert texts(panel)[:3] == ["Türkçe", "✅ English", "Both"]
    assert {"📂 Sections", "🔎 Followed words", "🗞 Digest", "🌙 Quiet hours"} <= set(texts(panel))
    (both,) = await english_reader.presses("Both", on=panel)
    assert edited_in_place(panel, both)
    assert "Languages: Turkish and English" in both.plain and "✅ Both" in texts(both)
    assert (await choices(app, english_reader)).languages == ("en", "tr")
    (turkish,) = await english_reader.presses("Türkçe", on=both)
    assert "Languages: Turkish" in turkish.plain
    assert (await choices(app, english_reader)).languages == ("tr",)


async def test_settings_in_turkish(app, reader: Reader, telegram: FakeBotAPI):
    panel = await reader.says("/settings")
    assert "Diller: Türkçe" in panel.plain and "Sessiz saatler: yok" in panel.plain
    (both,) = await reader.presses("İkisi de", on=panel)
    assert "Diller: Türkçe ve İngilizce" in both.plain
    (query_id,) = [q for q in telegram.answered_callbacks][-1:]
    assert telegram.answered_callbacks[query_id].text == "Kaydedildi ✅"
    (sections,) = await reader.presses("📂 Bölümler", on=both)
    assert "✅ Genel" in texts(sections)
    (back,) = await reader.presses("‹ Tüm ayarlar", on=sections)
    assert "⚙️ Ayarlarınız" in back.plain and edited_in_place(panel, back)


async def test_settings_sections_toggle_in_place(app, english_reader: Reader):
    economy, sports = await add_sections(app, ("Ekonomi", "Economy"), ("Spor", "Sports"))
    panel = await english_reader.says("/settings")
    (sections,) = await english_reader.presses("📂 Sections", on=panel)
    assert texts(sections) == ["✅ General", "✅ Economy", "✅ Sports", "‹ All settings"]
    (off,) = await english_reader.presses("✅ Sports", on=sections)
    assert edited_in_place(panel, off)
    assert texts(off) == ["✅ General", "✅ Economy", "🔕 Sports", "All sections on", "‹ All settings"]
    assert (await choices(app, english_reader)).muted_sections == {sports}
    (off,) = await english_reader.presses("✅ Economy", on=off)
    assert (await choices(app, english_reader)).muted_sections == {sports, economy}
    (on,) = await english_reader.presses("🔕 Sports", on=off)
    assert (await choices(app, english_reader)).muted_sections == {economy}
    (back,) = await english_reader.presses("‹ All settings", on=on)
    assert "Sections: all but Economy" in back.plain
    (sections,) = await english_reader.presses("📂 Sections", on=back)
    (all_on,) = await english_reader.presses("All sections on", on=sections)
    assert "All sections on" not in texts(all_on)
    assert (await choices(app, english_reader)).muted_sections == frozenset()


async def test_settings_followed_words_list_how_to_add_and_remove(app, english_reader: Reader):
    await english_reader.says("/follow Çankırı, deprem")
    panel = await english_reader.says("/settings")
    assert "Followed words: Çankırı, deprem" in panel.plain
    (follows,) = await english_reader.presses("🔎 Followed words", on=panel)
    assert "(2/20)" in follows.plain and "/follow Çankırı, earthquake" in follows.plain
    assert texts(follows) == ["✖ Çankırı", "✖ deprem", "‹ All settings"]
    (removed,) = await english_reader.presses("✖ Çankırı", on=follows)
    assert edited_in_place(panel, removed) and texts(removed) == ["✖ deprem", "‹ All settings"]
    assert [f.phrase for f in (await choices(app, english_reader)).follows] == ["deprem"]
    await english_reader.presses("✖ Çankırı", on=follows)  # an old copy of the screen: answered, no change
    assert [f.phrase for f in (await choices(app, english_reader)).follows] == ["deprem"]


async def test_settings_digest_presets(app, english_reader: Reader, clock: FakeClock):
    first = await publish_article(app, "Before digests")
    panel = await english_reader.says("/settings")
    (digest,) = await english_reader.presses("🗞 Digest", on=panel)
    assert texts(digest)[:4] == [
        "✅ Every article at once",
        "08:00",
        "08:00 + 18:00",
        "07:30 + 12:30 + 19:00",
    ]
    assert "/digest 07:00,12:30,19:00" in digest.plain
    (twice,) = await english_reader.presses("08:00 + 18:00", on=digest)
    assert edited_in_place(panel, twice) and "✅ 08:00 + 18:00" in texts(twice)
    assert "08:00, 18:00" in twice.plain
    chosen = await choices(app, english_reader)
    assert chosen.digest_times == "08:00,18:00"
    assert chosen.digest_next == at("18:00"), "it is 12:00 in Istanbul"
    assert chosen.digest_after == first, "the first digest starts after the newest article"
    (off,) = await english_reader.presses("Every article at once", on=twice)
    assert "✅ Every article at once" in texts(off)
    chosen = await choices(app, english_reader)
    assert (chosen.digest_times, chosen.digest_next, chosen.digest_after) == (None, None, None)


async def test_settings_quiet_hours_presets(app, reader: Reader, clock: FakeClock):
    panel = await reader.says("/settings")
    (quiet,) = await reader.presses("🌙 Sessiz saatler", on=panel)
    assert texts(quiet)[:4] == ["✅ Sessiz saat yok", "22:00–07:00", "23:00–08:00", "00:00–07:00"]
    (night,) = await reader.presses("22:00–07:00", on=quiet)
    assert "22:00 ile 07:00 arasında" in night.plain and "✅ 22:00–07:00" in texts(night)
    chosen = await choices(app, reader)
    assert (chosen.quiet_start, chosen.quiet_end) == (22 * 60, 7 * 60)
    assert chosen.quiet_next_end == at("07:00", date(2026, 11, 30))
    (off,) = await reader.presses("Sessiz saat yok", on=night)
    assert "✅ Sessiz saat yok" in texts(off)
    chosen = await choices(app, reader)
    assert (chosen.quiet_start, chosen.quiet_end, chosen.quiet_next_end) == (None, None, None)


@pytest.mark.parametrize(
    "data",
    ["cfg:s:-:99", "cfg:zz", "cfg:m:L:de", "cfg:d:T:2500", "cfg:f:x:0123456789", "mute:99", "unmute:x"],
)
async def test_stale_or_forged_buttons_are_answered_and_change_nothing(
    app, english_reader: Reader, telegram: FakeBotAPI, data: str
):
    await english_reader.says("/settings")
    before = await choices(app, english_reader)
    update = callback_update(english_reader.user, data)
    await english_reader.deliver(update)
    answer = telegram.answered_callbacks[update["callback_query"]["id"]]
    assert answer.text == "This button is out of date. Send the command again."
    assert await choices(app, english_reader) == before


async def test_pressing_the_same_choice_twice_is_answered_both_times(english_reader: Reader):
    panel = await english_reader.says("/settings")
    await english_reader.presses("Both", on=panel)
    await english_reader.presses("Both", on=panel)  # the screen is unchanged: Telegram's "not modified"


# --- /languages ----------------------------------------------------------------------------------


async def test_languages_alone_offers_buttons(app, english_reader: Reader):
    prompt = await english_reader.says("/languages")
    assert "You get articles in English (the language I speak with you)" in prompt.plain
    assert texts(prompt) == ["Türkçe", "✅ English", "Both", "‹ All settings"]
    (both,) = await english_reader.presses("Both", on=prompt)
    assert edited_in_place(prompt, both) and "Turkish and English." in both.plain
    assert (await choices(app, english_reader)).languages_chosen


@pytest.mark.parametrize(
    ("typed", "stored", "reply"),
    [
        ("en", ("en",), "You now get articles in English."),
        ("both", ("en", "tr"), "You now get articles in Turkish and English."),
        ("tr, en", ("en", "tr"), "You now get articles in Turkish and English."),
        ("Türkçe", ("tr",), "You now get articles in Turkish."),
    ],
)
async def test_languages_with_a_choice(app, english_reader: Reader, typed: str, stored, reply: str):
    assert reply in (await english_reader.says(f"/languages {typed}")).plain
    assert (await choices(app, english_reader)).languages == stored


async def test_languages_in_turkish_and_a_bad_choice(app, reader: Reader):
    assert (
        "Artık haberleri Türkçe ve İngilizce alıyorsunuz" in (await reader.says("/languages ikisi de")).plain
    )
    refusal = await reader.says("/languages <b>Klingon</b>")
    assert "“<b>Klingon</b>” haber verdiğim bir dil değil" in refusal.plain
    assert (await choices(app, reader)).languages == ("en", "tr")


# --- /topics -------------------------------------------------------------------------------------


async def test_topics_shows_exactly_the_sections_that_exist(app, reader: Reader):
    assert texts(await reader.says("/topics")) == ["✅ Genel", "‹ Tüm ayarlar"]
    await add_sections(app, ("Ekonomi", "Economy"), ("Spor", "Sports"), ("Dünya", "World"))
    topics = await reader.says("/topics")
    assert texts(topics) == ["✅ Genel", "✅ Ekonomi", "✅ Spor", "✅ Dünya", "‹ Tüm ayarlar"]
    (off,) = await reader.presses("✅ Spor", on=topics)
    assert edited_in_place(topics, off) and "🔕 Spor" in texts(off)


async def test_a_new_section_is_on_for_readers_who_have_all_on(app, english_reader: Reader):
    (economy,) = await add_sections(app, ("Ekonomi", "Economy"))
    topics = await english_reader.says("/topics")
    (off,) = await english_reader.presses("✅ Economy", on=topics)
    await english_reader.presses("🔕 Economy", on=off)
    assert (await choices(app, english_reader)).muted_sections == frozenset()
    (sports,) = await add_sections(app, ("Spor", "Sports"))
    assert "✅ Sports" in texts(await english_reader.says("/topics"))
    assert sports not in (await choices(app, english_reader)).muted_sections
    await english_reader.presses("✅ Economy", on=await english_reader.says("/topics"))
    await add_sections(app, ("Dünya", "World"))
    assert texts(await english_reader.says("/topics"))[1:4] == ["🔕 Economy", "✅ Sports", "✅ World"]
    assert (await choices(app, english_reader)).muted_sections == {economy}


# --- /follow and /unfollow -----------------------------------------------------------------------


async def test_follow_phrases_as_typed_folded_and_idempotent(app, english_reader: Reader):
    added = await english_reader.says("/follow Çankırı, deprem, Merkez Bankası")
    assert "Now following: Çankırı, deprem, Merkez Bankası." in added.plain
    assert "You follow 3 of 20" in added.plain
    follows = (await choices(app, english_reader)).follows
    assert {(f.folded, f.phrase) for f in follows} == {
        ("cankiri", "Çankırı"),
        ("deprem", "deprem"),
        ("merkez bankasi", "Merkez Bankası"),
    }
    again = await english_reader.says("/follow CANKIRI")
    assert "Already followed: Çankırı." in again.plain and "Now following" not in again.plain
    assert len((await choices(app, english_reader)).follows) == 3


async def test_follow_alone_lists_with_remove_buttons(app, reader: Reader):
    empty = await reader.says("/follow")
    assert "Henüz kelime takip etmiyorsunuz" in empty.plain and "/follow Çankırı, deprem" in empty.plain
    await reader.says("/follow deprem")
    listing = await reader.says("/follow")
    assert "• deprem" in listing.plain and texts(listing) == ["✖ deprem", "‹ Tüm ayarlar"]
    (removed,) = await reader.presses("✖ deprem", on=listing)
    assert edited_in_place(listing, removed) and (await choices(app, reader)).follows == ()


async def test_at_most_twenty_followed_phrases(app, english_reader: Reader):
    words = ", ".join(f"word{i}" for i in range(25))
    answer = await english_reader.says(f"/follow {words}")
    assert (
        "you follow the most words there can be (20): word20, word21, word22, word23, word24" in answer.plain
    )
    assert "You follow 20 of 20" in answer.plain
    assert len((await choices(app, english_reader)).follows) == 20
    assert "Already followed: word3." in (await english_reader.says("/follow word3")).plain


async def test_unfollow_in_any_spelling(app, reader: Reader):
    await reader.says("/follow Çankırı, deprem")
    answer = await reader.says("/unfollow CANKIRI, sel")
    assert "Artık takip edilmiyor: Çankırı." in answer.plain
    assert "Zaten takip etmiyordunuz: sel." in answer.plain
    assert "Takip etmeye devam: deprem." in answer.plain
    assert [f.phrase for f in (await choices(app, reader)).follows] == ["deprem"]
    assert "✖ deprem" in texts(await reader.says("/unfollow"))


HOSTILE = [
    "<b>bold</b> & <i>",
    "a" * 4000,
    ",,,;;;",
    "\u202eevil\u202c, 🔥🔥",
    "x, " * 1300,
    "/follow /follow",
    "'; DROP TABLE follows; --",
    "<a href='javascript:alert(1)'>x</a>",
]


@pytest.mark.parametrize(
    "command", ["follow", "unfollow", "digest", "quiet", "languages", "settings", "topics"]
)
async def test_hostile_input_gets_one_short_answer(app, english_reader: Reader, command: str):
    for text in HOSTILE:
        answer = await english_reader.says(f"/{command} {text}")
        assert answer.plain and len(answer.plain) <= 4096
        assert "<b>bold</b>" not in (answer.text or "") and "<a href" not in (answer.text or "")
    assert len((await choices(app, english_reader)).follows) <= 20


async def test_follow_echoes_what_it_refused_escaped(app, english_reader: Reader):
    answer = await english_reader.says("/follow <b>!!</b>, !!!, " + "x" * 80)
    assert "Now following: <b>!!</b>." in answer.plain, "letters inside markup are words; shown as typed"
    assert "Not followed: !!!, " + "x" * 59 + "…" in answer.plain


# --- /digest -------------------------------------------------------------------------------------


async def test_digest_set_show_and_off(app, english_reader: Reader, clock: FakeClock):
    newest = await publish_article(app, "Newest before digests")
    answer = await english_reader.says("/digest 18:30, 8:00")
    assert "Digest at 08:00, 18:30 (Istanbul time)" in answer.plain
    chosen = await choices(app, english_reader)
    assert (chosen.digest_times, chosen.digest_next, chosen.digest_after) == (
        "08:00,18:30",
        at("18:30"),
        newest,
    )
    later = await publish_article(app, "Published meanwhile")
    await english_reader.says("/digest 07:00")
    chosen = await choices(app, english_reader)
    assert chosen.digest_next == at("07:00", date(2026, 11, 30))
    assert chosen.digest_after == newest != later, "changing the times keeps what the next digest covers"
    shown = await english_reader.says("/digest")
    assert "You get one message at 07:00" in shown.plain and "✅ 07:00" not in texts(shown)
    assert "Digest off" in (await english_reader.says("/digest off")).plain
    assert (await choices(app, english_reader)).digest_times is None


@pytest.mark.parametrize(
    ("typed", "reply"),
    [
        ("25:00", "“25:00” is not a time I understand."),
        ("08:00,noon", "“noon” is not a time I understand."),
        ("07:00,12:00,18:00,21:00", "At most 3 digests a day"),
    ],
)
async def test_digest_bad_times(app, english_reader: Reader, typed: str, reply: str):
    assert reply in (await english_reader.says(f"/digest {typed}")).plain
    assert (await choices(app, english_reader)).digest_times is None


async def test_digest_in_turkish(app, reader: Reader, clock: FakeClock):
    assert "Özet saatleriniz: 08:00 (İstanbul saati)" in (await reader.says("/digest 08.00")).plain
    assert "Özet kapalı" in (await reader.says("/digest kapat")).plain
    assert "“sabah” anlayabildiğim bir saat değil" in (await reader.says("/digest sabah")).plain


# --- /quiet --------------------------------------------------------------------------------------


async def test_quiet_set_show_and_off(app, english_reader: Reader, clock: FakeClock):
    answer = await english_reader.says("/quiet 13:00-14:00")
    assert "Quiet hours from 13:00 to 14:00 (Istanbul time)" in answer.plain
    chosen = await choices(app, english_reader)
    assert (chosen.quiet_start, chosen.quiet_end, chosen.quiet_next_end) == (780, 840, at("14:00"))
    shown = await english_reader.says("/quiet")
    assert "From 13:00 to 14:00" in shown.plain and "22:00–07:00" in texts(shown)
    assert "No quiet hours" in (await english_reader.says("/quiet off")).plain
    assert (await choices(app, english_reader)).quiet_start is None


async def test_quiet_bad_input(app, reader: Reader):
    assert "başlangıcı ve bitişi farklı olmalı" in (await reader.says("/quiet 22:00-22:00")).plain
    assert "SS:DD-SS:DD" in (await reader.says("/quiet gece")).plain
    assert (await choices(app, reader)).quiet_start is None


# --- the mute button under pushed articles -------------------------------------------------------


async def pushed_article(app, reader: Reader, section_id: int, label: str) -> SentMessage:
    """An article message as the routing branch pushes it: Read, Share and 🔕 <section>."""
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Read on the site", url="https://example.com/a"),
                InlineKeyboardButton("Share", switch_inline_query="#1"),
            ],
            [InlineKeyboardButton(f"🔕 {label}", callback_data=f"mute:{section_id}")],
        ]
    )
    await app.bot.send_message(reader.chat_id, "<b>Headline</b>", reply_markup=markup)
    return reader.api.messages_to(reader.chat_id)[-1]


async def test_mute_button_mutes_and_turns_into_undo(app, english_reader: Reader, telegram: FakeBotAPI):
    await english_reader.says("/start")
    (economy,) = await add_sections(app, ("Ekonomi", "Economy"))
    article = await pushed_article(app, english_reader, economy, "Economy")
    (edited,) = await english_reader.presses("🔕 Economy", on=article)
    assert edited.method == "editMessageReplyMarkup" and edited.message_id == article.message_id
    assert texts(edited) == ["Read on the site", "Share", "🔔 Economy"]
    assert buttons(edited)[2]["callback_data"] == f"unmute:{economy}"
    answer = list(telegram.answered_callbacks.values())[-1]
    assert answer.text.startswith("Economy is off")
    assert (await choices(app, english_reader)).muted_sections == {economy}
    (undone,) = await english_reader.presses("🔔 Economy", on=edited)
    assert texts(undone) == ["Read on the site", "Share", "🔕 Economy"]
    assert buttons(undone)[2]["callback_data"] == f"mute:{economy}"
    assert list(telegram.answered_callbacks.values())[-1].text == "Economy is on again."
    assert (await choices(app, english_reader)).muted_sections == frozenset()


async def test_mute_button_in_turkish(app, reader: Reader, telegram: FakeBotAPI):
    await reader.says("/start")
    (sports,) = await add_sections(app, ("Spor", "Sports"))
    article = await pushed_article(app, reader, sports, "Spor")
    (edited,) = await reader.presses("🔕 Spor", on=article)
    assert "🔔 Spor" in texts(edited)
    assert list(telegram.answered_callbacks.values())[-1].text.startswith("Spor kapandı")


# --- groups: only admins change the group's choices ----------------------------------------------


@pytest.fixture
def group(telegram: FakeBotAPI) -> dict:
    chat = make_chat(-7001, "group", "Haber Odası")
    telegram.set_chat_admins(chat["id"], [7002])
    return chat


@pytest.mark.parametrize(
    "command", ["/follow deprem", "/unfollow deprem", "/digest 08:00", "/quiet 22:00-07:00", "/languages en"]
)
async def test_a_group_member_cannot_change_the_groups_choices(app, telegram, group, command: str):
    admin = Reader(app, telegram, 7002, language_code="en", chat=group)
    member = Reader(app, telegram, 7003, language_code="en", chat=group)
    await admin.says("/follow deprem")
    before = await choices(app, member)
    refusal = await member.says(command)
    assert "Only the group's admins can change this." in refusal.plain
    assert await choices(app, member) == before


async def test_a_group_member_may_look_but_not_press(app, telegram, group):
    member = Reader(app, telegram, 7003, language_code="en", chat=group)
    panel = await member.says("/settings")
    answers = await member.presses("Both", on=panel)
    assert answers == [], "nothing edited"
    refusal = list(telegram.answered_callbacks.values())[-1]
    assert refusal.text == "Only the group's admins can change this." and refusal.show_alert
    assert not (await choices(app, member)).languages_chosen
    (sections,) = await member.presses("📂 Sections", on=panel)  # looking around is fine
    assert "✅ General" in texts(sections)


async def test_a_group_member_cannot_mute_with_the_article_button(app, telegram, group):
    admin = Reader(app, telegram, 7002, language_code="en", chat=group)
    member = Reader(app, telegram, 7003, language_code="en", chat=group)
    await admin.says("/settings")
    (economy,) = await add_sections(app, ("Ekonomi", "Economy"))
    article = await pushed_article(app, member, economy, "Economy")
    assert await member.presses("🔕 Economy", on=article) == []
    assert (await choices(app, member)).muted_sections == frozenset()
    (edited,) = await admin.presses("🔕 Economy", on=article)
    assert "🔔 Economy" in texts(edited)
    assert (await choices(app, admin)).muted_sections == {economy}


async def test_a_group_admin_changes_the_groups_choices(app, telegram, group, clock: FakeClock):
    admin = Reader(app, telegram, 7002, language_code="tr", chat=group)
    assert "Artık takip ediliyor: deprem" in (await admin.says("/follow@newsbot_test_bot deprem")).plain
    await admin.says("/digest 08:00")
    panel = await admin.says("/settings")
    (both,) = await admin.presses("İkisi de", on=panel)
    chosen = await choices(app, admin)
    assert chosen.digest_times == "08:00" and chosen.languages == ("en", "tr")
    assert "Türkçe ve İngilizce" in both.plain


# --- the command menu and /help ------------------------------------------------------------------


async def test_help_and_the_command_menu_list_the_new_commands(app, english_reader: Reader, telegram):
    help_text = (await english_reader.says("/help")).plain
    new = ("settings", "languages", "topics", "follow", "unfollow", "digest", "quiet")
    for command in new:
        assert help_text.count(f"/{command} — ") == 1
    for lang in ("tr", "en"):
        assert set(new) <= {c["command"] for c in telegram.get_commands(language_code=lang)}


# --- storage: the forms routing reads (storage/migrations/0012) ----------------------------------


async def test_stored_forms_are_the_schemas(tmp_path):
    store = await Store.open(tmp_path / "forms.db")
    try:
        await store.chats.touch(5, "private", "tr")
        readers = store.readers

        async def column(name: str):
            return await store.db.fetchval(f"SELECT {name} FROM chats WHERE chat_id = 5")

        assert await readers.mute_section(5, 3) and await readers.mute_section(5, 13)
        assert not await readers.mute_section(5, 3), "muting twice changes nothing"
        assert await column("muted_sections") == ",3,13,"
        assert await readers.unmute_section(5, 3) and await column("muted_sections") == ",13,"
        assert not await readers.unmute_section(5, 1)
        assert await readers.unmute_section(5, 13) and await column("muted_sections") is None
        await readers.set_muted(5, [7, 2, 7])
        assert await column("muted_sections") == ",2,7,"
        await readers.set_muted(5, [])
        assert await column("muted_sections") is None
        await readers.set_languages(5, ["tr", "en", "tr"])
        assert await column("languages") == "en,tr"
        await readers.set_languages(5, None)
        assert (await readers.choices(5)).languages == ("tr",), "NULL: the interface language"
        change = await readers.follow(5, ["Çankırı", "  ", "ÇANKIRI"])
        assert (change.added, change.known, change.count) == (("Çankırı",), ("Çankırı",), 1)
        assert await store.db.fetchval("SELECT folded || '|' || phrase FROM follows") == "cankiri|Çankırı"
    finally:
        await store.close()


async def test_settings_switches_the_morning_map_in_place(app, english_reader: Reader):
    panel = await english_reader.says("/settings")
    assert "🗺 Morning map: off" in texts(panel)
    (on,) = await english_reader.presses("🗺 Morning map: off", on=panel)
    assert edited_in_place(panel, on) and "🗺 Morning map: on ✅" in texts(on)
    assert (await choices(app, english_reader)).weather_map
    assert await store_of(app).maps.wants_map(english_reader.chat_id), "the same choice as /weathermap"
    (off,) = await english_reader.presses("🗺 Morning map: on ✅", on=on)
    assert "🗺 Morning map: off" in texts(off)
    assert not (await choices(app, english_reader)).weather_map
