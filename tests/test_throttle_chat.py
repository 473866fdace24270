"""The throttle in the real bot (database, templates, every handler) through the fake Bot API.

Updates enter through the Application's update queue, as polling and webhooks deliver them, so they pass
the update processor (bot/intake/). Timing is covered in virtual time by tests/test_intake.py; here the
counts: what a flood costs in Bot API calls and in updates that reach the database.
"""

from __future__ import annotations

from collections import Counter

from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.context import NewsbotContext
from bot.render import Renderer
from handlers.prelude import PRELUDE_GROUP
from tests.fake_telegram import FakeBotAPI, inline_query_update, make_user, message_update


def count_database_work(app: Application) -> Counter[int]:
    """Count, per sender, the updates that get as far as the prelude: its chat lookup is the first query."""
    reached: Counter[int] = Counter()

    async def spy(update: Update, context: NewsbotContext) -> None:
        reached[update.effective_user.id] += 1

    app.add_handler(TypeHandler(Update, spy), group=PRELUDE_GROUP - 1)
    return reached


def queue(app: Application, update: dict) -> None:
    app.update_queue.put_nowait(Update.de_json(update, app.bot))


async def test_a_flood_gets_one_answer_and_one_notice_and_costs_nothing_more(
    app: Application, telegram: FakeBotAPI
) -> None:
    reached = count_database_work(app)
    flooder = make_user(501, language_code="tr")
    for _ in range(100):
        queue(app, message_update(flooder, "/help"))
    others = [make_user(600 + i, language_code="en") for i in range(20)]
    for user in others:
        queue(app, message_update(user, "/latest"))
    await app.update_queue.join()  # every queued update handled
    to_flooder = telegram.messages_to(501)
    assert [m.plain for m in to_flooder][1:] == [Renderer().message("tr", "slow_down")]
    assert "/latest" in to_flooder[0].plain  # the help, for the first /help
    # The other 99: no database work and no Bot API call (19 queued in the chat were dropped with the
    # 21st, which got the notice before reaching the prelude).
    assert reached[501] == 1
    assert [r.method for r in telegram.requests if r.params.get("chat_id") == 501] == ["sendMessage"] * 2
    for user in others:
        assert len(telegram.messages_to(user["id"])) == 1
        assert reached[user["id"]] == 1


async def test_a_quick_burst_of_commands_is_all_answered(app: Application, telegram: FakeBotAPI) -> None:
    reader = make_user(502, language_code="en")
    commands = ["/start", "/help", "/latest", "/latest 3", "/language", "/province", "/weathertime"] * 2
    for text in [*commands, "/help", "/invite", "/search istanbul", "/article 1", "/subscribe"]:
        queue(app, message_update(reader, text))
    await app.update_queue.join()
    answers = [m.plain for m in telegram.messages_to(502)]
    assert len(answers) == 19
    assert Renderer().message("en", "slow_down") not in answers


async def test_inline_queries_count_too(app: Application, telegram: FakeBotAPI) -> None:
    reached = count_database_work(app)
    typist = make_user(503, language_code="en")
    queries = [inline_query_update(typist, "istanbul"[: 1 + i % 8]) for i in range(30)]
    for query in queries:
        queue(app, query)
    await app.update_queue.join()
    answered = telegram.inline_answers
    ids = [q["inline_query"]["id"] for q in queries]
    # The first was searched; the 21st got an empty answer at once; the rest were dropped unanswered.
    assert sorted(answered, key=ids.index) == [ids[0], ids[20]]
    assert answered[ids[20]].results == []
    assert reached[503] == 1
