"""How long the worst searches hold a reader connection, on 100,000 generated articles.

.venv/bin/python bench/search.py [--articles N] [--db PATH] [--rounds N]

Builds N articles (default 100,000) with Turkish and English headlines and bodies drawn from a Zipf-shaped
vocabulary (function words, news words and generated stems, Turkish ones in up to 500 inflected forms), or
reuses the database at --db when it exists (a database built by older code is migrated on open, and the
opening is timed). Then runs the worst queries that fit the input limits (an inline query holds at most 256
characters, /search reads at most 4096) the way the bot runs them, and prints p50 and max per query shape:

- /search: the 5 best and how many match;
- inline: one page of 20, the first and the 10th.

A search stopped at the work cap counts as answered ("too costly": the reader is told to use fewer or
longer words); its time is how long it held the reader connection. For the code before issue 10, run this
script against that code: `PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/search.py --db old.db`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import storage.articles as articles_module
from storage import Store
from storage.folding import fold_text
from storage.models import ArticleDraft

TOO_COSTLY = getattr(articles_module, "SearchTooCostly", None)



def words(text: str) -> list[str]:
    """A word list written as one string."""
    return text.split()


# Function words: the most frequent words of both languages, used as they are.
TURKISH_FUNCTION = words(
    "ve bir bu da de için ile olarak olan daha çok gibi en ama ancak ise göre her o şu ki mi ne"
)
ENGLISH_FUNCTION = words("the of and to a in is that for on it with as was by at from be this are has not or")

# Turkish stems with many inflected forms in news text (Turkish is agglutinative: one stem, hundreds of
# words), then generated ones. Each stem gets suffix chains; frequent stems get more of them.
TURKISH_STEMS = words(
    "yap gel git ver al bul kal ol başkan bakan karar açıkla toplan seç deprem yangın hükümet belediye "
    "okul öğrenci hastane polis mahkeme dava fiyat ücret ekonomi piyasa enflasyon faiz dolar yatırım "
    "istanbul ankara izmir çankırı iğdır şanlıurfa diyarbakır türkiye avrupa amerika rusya ukrayna "
    "meclis parti muhalefet iktidar vali jandarma soruşturma gözaltı tutukla sınav sağlık doktor ilaç "
    "futbol maç kulüp taraftar takım gol lig kupa transfer vatandaş halk kamu şirket ihracat üretim zam "
    "maaş emekli vergi bütçe kredi banka yol köprü tünel metro otobüs trafik kaza yaralı ekip olay bölge "
    "ilçe mahalle köy şehir ülke dünya görüş toplantı ziyaret tören kutla bayram festival konser sergi "
    "çalış proje ihale inşaat konut kira ev tarım çiftçi hasat su baraj elektrik enerji petrol iklim "
    "çevre orman hayvan sokak basın özgür gazeteci haber açıklama kar yağış hava sel fırtına uçak gemi"
)
SYLLABLES = words(
    "ba be bi bo bu ca ce çe ça da de di do du ga ge gi gö gü ka ke ki ko kö ku kü la le li lo lu ma me mi "
    "mo mu na ne ni no nu pa pe ra re ri ro ru sa se si so su şa şe şi ta te ti to tu ya ye yı yo yu za ze "
    "ar er ır ül ış iş al el an en in on un ak ek ık uk at et it ut"
)
NOUN_SLOTS = (
    ["", "lar", "ler"],
    ["", "ı", "i", "sı", "si", "ımız", "imiz", "ları", "leri", "ın", "in"],
    ["", "da", "de", "dan", "den", "a", "e", "ı", "i", "ın", "in", "la", "le", "daki", "deki", "ca", "ce"],
)
VERB_SLOTS = (
    ["", "ıl", "il", "ın", "in", "dır", "dir", "ış", "iş"],
    ["mak", "mek", "ma", "me", "dı", "di", "mış", "miş", "acak", "ecek", "ıyor", "iyor", "ır", "ir", "an",
     "en", "arak", "erek", "ması", "mesi", "dığı", "diği", "ınca", "ince"],
    ["", "", "", "m", "n", "k", "nız", "niz", "lar", "ler", "dır", "dir"],
)
ENGLISH_STEMS = words(
    "govern minister president police city country state world report statement election vote party court "
    "week day turkey istanbul ankara economy inflation bank rate market earthquake fire flood snow weather "
    "school university student hospital health football match league club fan official agency announce "
    "meet talk visit capital region province district village bridge road traffic accident injure kill "
    "work price wage tax budget energy gas oil climate forest water dam farm harvest protest journalist "
    "press transport transfer translate transit interview interest internet international invest invite "
    "under understand undertake over overcome oversee develop deliver decide declare depart describe"
)
ENGLISH_SUFFIXES = ["", "s", "ed", "ing", "er", "ers", "ly", "ion", "ions", "ment", "ments", "al", "ive"]


def zipf_choice(rng: random.Random, items: list[str], k: int) -> list[str]:
    """`k` distinct items, the first ones far more likely (as real suffixes are)."""
    weights = [1 / (rank + 1) for rank in range(len(items))]
    chosen: dict[str, None] = {}
    while len(chosen) < min(k, len(items)):
        chosen[rng.choices(items, weights)[0]] = None
    return list(chosen)


def turkish_forms(rng: random.Random, stem: str, count: int) -> list[str]:
    """Up to `count` inflected forms of a stem: noun or verb suffix chains, without vowel harmony."""
    slots = VERB_SLOTS if rng.random() < 0.35 else NOUN_SLOTS
    forms: dict[str, None] = {stem: None}
    for _ in range(count * 3):
        if len(forms) >= count:
            break
        forms[stem + "".join(rng.choice(zipf_choice(rng, slot, 4)) for slot in slots)] = None
    return list(forms)


def vocabulary(rng: random.Random, english: bool) -> tuple[list[str], list[float]]:
    """Words and their frequencies: function words, then stems by Zipf rank, each with its forms."""
    words: dict[str, float] = {}
    for rank, word in enumerate(ENGLISH_FUNCTION if english else TURKISH_FUNCTION):
        words[word] = 0.5 / (rank + 1)
    stems = list(ENGLISH_STEMS if english else TURKISH_STEMS)
    while len(stems) < (3_000 if english else 6_000):
        stems.append("".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))))
    for rank, stem in enumerate(stems):
        weight = 1 / (rank + 10)
        if english:
            forms = [stem + suffix for suffix in zipf_choice(rng, ENGLISH_SUFFIXES, rng.randint(2, 6))]
        else:  # the most frequent stems appear in a few hundred forms, rare ones in a handful
            forms = turkish_forms(rng, stem, max(3, int(500 / (rank + 1) ** 0.5)))
        for position, form in enumerate(forms):
            share = weight / (position + 1) / sum(1 / (p + 1) for p in range(len(forms)))
            words[form] = words.get(form, 0.0) + share
    return list(words), list(words.values())


class Writer:
    """Draws headlines and bodies from one language's vocabulary."""

    def __init__(self, rng: random.Random, english: bool) -> None:
        self.rng = rng
        self.words, weights = vocabulary(rng, english)
        self.cumulative = list(itertools.accumulate(weights))

    def draw(self, count: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=count)

    def headline(self) -> str:
        return " ".join(self.draw(self.rng.randint(5, 11))).capitalize()

    def body(self) -> str:
        sentences = [
            " ".join(self.draw(self.rng.randint(8, 20))).capitalize() + "."
            for _ in range(self.rng.randint(6, 18))
        ]
        return " ".join(sentences)


async def build(path: Path, count: int, seed: int = 10) -> float:
    """Store `count` generated articles (60 % Turkish) through Articles.add, in batches; seconds taken."""
    rng = random.Random(seed)
    turkish, english = Writer(rng, english=False), Writer(rng, english=True)
    started = time.perf_counter()
    store = await Store.open(path)
    first = datetime(2020, 1, 1, tzinfo=UTC)
    try:
        for start in range(0, count, 2_000):
            async with store.db.transaction() as tx:
                for i in range(start, min(count, start + 2_000)):
                    writer = english if rng.random() < 0.4 else turkish
                    draft = ArticleDraft(
                        title=writer.headline(),
                        body=writer.body(),
                        published_at=first + timedelta(minutes=20 * i),
                        source="bench",
                        guid=f"bench-{i}",
                    )
                    await store.articles.add(tx, draft)
            print(f"\r  {min(count, start + 2_000):,} articles", end="", flush=True)
        print()
    finally:
        await store.close()
    return time.perf_counter() - started


async def broadest_terms(store: Store, sample: int = 3_000) -> dict[str, list[str]]:
    """From a sample: the word beginnings in the most articles, and those starting the most distinct words.

    The first are what makes a match set large; the second what makes a prefix expensive to expand
    (every indexed word that starts with it is read), which is worst past the prefix index's lengths.
    """
    rows = await store.db.fetchall("SELECT title, body FROM articles ORDER BY id LIMIT ?", (sample,))
    articles: dict[int, Counter[str]] = {length: Counter() for length in range(1, 5)}
    distinct: set[str] = set()
    for row in rows:
        words = set(fold_text(row["title"] + " " + row["body"]).split())
        distinct |= words
        articles[1].update(w for w in words if len(w) == 1)
        for length in (2, 3, 4):
            articles[length].update({w[:length] for w in words if len(w) >= length})
    forms: dict[int, Counter[str]] = {length: Counter() for length in (4, 5, 6)}
    for word in distinct:
        for length, counter in forms.items():
            if len(word) >= length:
                counter[word[:length]] += 1
    terms = {f"common {n}": [p for p, _ in c.most_common(12)] for n, c in articles.items()}
    terms |= {f"fertile {n}": [p for p, _ in c.most_common(12)] for n, c in forms.items()}
    return terms


def shapes(terms: dict[str, list[str]]) -> dict[str, str]:
    """The query shapes; each fits an inline query (256 characters) except the /search one."""
    two = terms["common 2"]
    return {
        "issue example: a b c d e f g h i j k l": "a b c d e f g h i j k l",
        "single letters, most common first": " ".join(terms["common 1"] + list("abcdefghijklmnoprstuvyz")),
        "one 2-letter prefix, most common": two[0],
        "8 common 2-letter prefixes": " ".join(two[:8]),
        "12 common 2-letter prefixes": " ".join(two[:12]),
        "256 chars of common 2-letter prefixes": " ".join(two * 30)[:256],
        "8 common 3-letter prefixes": " ".join(terms["common 3"][:8]),
        "8 common 4-letter prefixes": " ".join(terms["common 4"][:8]),
        "8 fertile 4-letter prefixes": " ".join(terms["fertile 4"][:8]),
        "8 fertile 5-letter prefixes": " ".join(terms["fertile 5"][:8]),
        "8 fertile 6-letter prefixes": " ".join(terms["fertile 6"][:8]),
        "one fertile 4-letter prefix": terms["fertile 4"][0],
        "mixed: 2, 3, 4 letters": " ".join(two[:3] + terms["common 3"][:3] + terms["fertile 4"][:2]),
        "common words of both languages": "ve bir bu da the of and to a in",
        "operators and quotes": '"a" OR b* NEAR(ve bir) -de ^ba ( ) : AND NOT ka*',
        "4 tokens of 64 characters": " ".join(("ba" * 32, "ka" * 32, "de" * 32, "ve" * 32)),
        "4096 chars of 2-letter prefixes (/search)": " ".join(two * 400)[:4096],
        "a realistic query: istanbul deprem": "istanbul deprem",
        "nothing matches": "zzqx qqzz",
    }


async def timed(call) -> tuple[float, float, str]:
    """Wall-clock and CPU milliseconds (the process: event loop and SQLite's thread), and the outcome."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        await call()
        outcome = "ok"
    except Exception as error:  # the old code's errors count too: a reader would have seen them
        outcome = "too costly" if TOO_COSTLY and isinstance(error, TOO_COSTLY) else type(error).__name__
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000, outcome


async def run(store: Store, rounds: int) -> None:
    terms = await broadest_terms(store)
    for name, found in terms.items():
        print(f"  {name}: {' '.join(found[:8])}")
    worst = worst_cpu = 0.0
    print(
        f"{'query shape':42} {'/search p50/max':>16} {'inline p50/max':>16} {'page 10':>8} {'max CPU':>8}"
        "  outcome (ms; wall clock unless CPU)"
    )
    for name, query in shapes(terms).items():
        search_times, inline_times, last_page_times, cpu_times, outcomes = [], [], [], [], set()

        async def search_command(query: str = query) -> None:
            if hasattr(store.articles, "find"):  # one call: the page and the count
                await store.articles.find(query, limit=5)
            elif await store.articles.search(query, limit=5):  # the code before issue 10
                await store.articles.count_matches(query)

        for _ in range(rounds):
            for bucket, call in (
                (search_times, search_command),
                (inline_times, lambda q=query[:256]: store.articles.search(q, limit=20)),
                (last_page_times, lambda q=query[:256]: store.articles.search(q, limit=20, offset=180)),
            ):
                elapsed, cpu, outcome = await timed(call)
                bucket.append(elapsed)
                cpu_times.append(cpu)
                outcomes.add(outcome)
        worst = max(worst, *search_times, *inline_times, *last_page_times)
        worst_cpu = max(worst_cpu, *cpu_times)
        print(
            f"{name[:42]:42} {statistics.median(search_times):7.1f}/{max(search_times):<8.1f}"
            f" {statistics.median(inline_times):7.1f}/{max(inline_times):<8.1f}"
            f" {max(last_page_times):8.1f} {max(cpu_times):8.1f}  {', '.join(sorted(outcomes))}"
        )
    print(f"worst case over all shapes: {worst:.1f} ms wall clock, {worst_cpu:.1f} ms CPU")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="build here once, reuse afterwards")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = options.db or Path(scratch) / "search.db"
        if not path.exists():
            print(f"building {options.articles:,} articles in {path}")
            print(f"built in {await build(path, options.articles):.0f} s")
        started = time.perf_counter()
        store = await Store.open(path)
        print(f"opened (migrations included) in {time.perf_counter() - started:.2f} s; "
              f"{await store.articles.count():,} articles, {path.stat().st_size / 1e6:.0f} MB")
        try:
            await run(store, options.rounds)
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
