"""kill -9 in the middle of a broadcast: after a restart everyone has it, repeats only for sends in flight."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from bot.delivery.engine import DeliveryOptions
from bot.drafts import make_draft
from bot.publishing import publish
from storage import Store
from tests.conftest import TOKEN
from tests.fake_telegram import FakeBotAPI
from tests.test_cli import clean_env
from tests.test_delivery import assert_no_flood

SUBSCRIBERS = range(50_001, 50_201)


async def start_bot(api: FakeBotAPI, db: Path, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=clean_env(
            TELEGRAM_BOT_TOKEN=TOKEN,
            NEWSBOT_BOT_API_URL=api.base_url,
            NEWSBOT_DB=str(db),
            NEWSBOT_BROADCAST_RATE="30",
        ),
        cwd=cwd,
        stderr=asyncio.subprocess.PIPE,
    )


def pending_chats(db: Path, statuses: tuple[str, ...] = ("pending", "sending")) -> set[int]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            f"SELECT chat_id FROM deliveries WHERE status IN ({', '.join('?' * len(statuses))})", statuses
        ).fetchall()
    return {chat_id for (chat_id,) in rows}


async def test_a_killed_bot_finishes_the_broadcast_after_restart(tmp_path):
    db = tmp_path / "news.db"
    store = await Store.open(db)
    try:
        for chat_id in SUBSCRIBERS:
            await store.chats.touch(chat_id, "private", "tr")
            await store.chats.subscribe(chat_id)
        draft = make_draft(title="Son dakika", body="Açıklama metni. " * 30, published=None, source="import")
        await publish(store, draft)
    finally:
        await store.close()

    async with FakeBotAPI(token=TOKEN, bot_username="newsbot_test_bot") as api:
        api.latency = 0.1  # a real link: several sends are in flight at any moment
        # The server stamps requests when this (possibly busy) test process gets to them, late and in clumps
        # on a loaded machine; a 0.9 s window still catches a bot that sends 31 in a second.
        api.limits.global_window = 0.9
        process = await start_bot(api, db, tmp_path)
        try:
            await api.wait_for_messages(60, timeout=60)
            process.kill()  # SIGKILL: no cleanup at all
            await process.wait()
            await api.wait_until_clients_quiet()  # requests already on the wire have reached the server
        finally:
            if process.returncode is None:
                process.kill()
        before = Counter(m.chat_id for m in api.sent)
        claimed = pending_chats(db, ("sending",))  # claimed by the killed process, outcome not committed
        in_flight = {chat_id for chat_id in before if chat_id in pending_chats(db)}
        assert 0 < sum(before.values()) < len(SUBSCRIBERS), "killed in the middle of the broadcast"

        process = await start_bot(api, db, tmp_path)
        try:
            await api.wait_for_messages(len(SUBSCRIBERS) + len(in_flight), timeout=60)
            async with asyncio.timeout(60):  # every outcome committed: nothing is left to send (twice)
                while pending_chats(db) or api.in_flight > api.long_polls:
                    await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
        assert process.returncode == 0, stderr.decode()[-2000:]

    received = Counter(m.chat_id for m in api.sent)
    assert set(received) == set(SUBSCRIBERS), "every subscriber has the article"
    twice = {chat_id for chat_id, n in received.items() if n > 1}
    assert twice <= in_flight, "only messages whose outcome was not yet committed are sent again"
    assert in_flight <= claimed, "and only claimed ones: nothing goes out before its claim is committed"
    bound = DeliveryOptions().concurrency + DeliveryOptions().claim_size
    assert len(claimed) <= bound, f"{len(claimed)} claimed: a sender each, and one claim being dispatched"
    assert max(received.values()) <= 2
    assert pending_chats(db) == set()
    assert_no_flood(api)
