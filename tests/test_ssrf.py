"""No feed, redirect, DNS name or import can make the bot fetch (and publish) a page from a private network.

The trusted news site runs on 127.0.0.1 (NEWSBOT_FETCH_ALLOW=127.0.0.1, as in every test); the "intranet"
is a second server on 127.0.0.2, which nothing trusts, and which must never see a request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver
from hypothesis import given
from hypothesis import strategies as st

from bot.sources.addresses import FetchAllow, address_refusal
from bot.sources.fetch import FetchError, GuardedResolver, fetch, open_session
from tests.conftest import LOCAL_SITES
from tests.conversation import Reader
from tests.news_site import Item, NewsSite, article_page
from tests.test_cli import clean_env, newsbot

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult

PUBLIC_TEXT = ["The municipality opened the new library on Saturday with a reading festival for children."]
SECRET_TEXT = ["INTERNAL: the admin password of the newsroom CMS is hunter2, do not share it outside."]
DAY = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
LOOPBACK_2 = "refused: 127.0.0.2 is a loopback address"


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    async with NewsSite() as site:
        yield site


@pytest.fixture
async def intranet() -> AsyncIterator[NewsSite]:
    """A server on 127.0.0.2 with secret pages; its request log must stay empty."""
    async with NewsSite(host="127.0.0.2") as intranet:
        for n in range(1, 4):
            intranet.page(f"/secret/{n}", article_page(f"Internal memo {n}", SECRET_TEXT, DAY.date()))
        intranet.feed("/rss", [Item("Internal memo", link=intranet.url("/secret/1"), guid="m1")])
        yield intranet


class StaticDNS(AbstractResolver):
    """A DNS server in a dict, in place of the system's: name -> addresses; lookups are recorded."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in self.names[host]
        ]

    async def close(self) -> None:
        pass


async def _refused(session: aiohttp.ClientSession, url: str) -> str:
    with pytest.raises(FetchError) as error:
        await fetch(session, url)
    return str(error.value)


# --- the case, through the real bot: /feeds add, the first fetch, the stored articles ---------------


async def test_feed_items_pointing_into_the_intranet_keep_the_feeds_own_text(
    admin: Reader, app, site: NewsSite, intranet: NewsSite, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="bot.ingest")
    public = site.page("/news/3", article_page("Library opens", PUBLIC_TEXT, DAY.date()))
    items = [
        Item("Library opens", link=public, guid="p3", summary="Feed text three.", published=DAY),
        Item(
            "Redirected",
            link=site.redirect("/go/2", intranet.url("/secret/2")),
            guid="p2",
            summary="Feed text two.",
            published=DAY.replace(hour=8),
        ),
        Item(
            "Direct",
            link=intranet.url("/secret/1"),
            guid="p1",
            summary="Feed text one.",
            published=DAY.replace(hour=7),
        ),
    ]
    url = site.feed("/rss", items)

    answer = (await admin.says(f"/feeds add {url}")).plain
    assert "stored 3 articles" in answer

    assert intranet.requests == [], "nothing on 127.0.0.2 was fetched, directly or through the redirect"
    assert len(site.seen("/go/2")) == 1, "the redirect itself was followed up to the refused hop"
    stored = [(a.title, a.body) for a in reversed(await app.bot_data.store.articles.latest(5))]
    assert stored == [
        ("Direct", "Feed text one."),
        ("Redirected", "Feed text two."),
        ("Library opens", PUBLIC_TEXT[0]),
    ], "the refused pages fall back to the feed's text; the public page is still read"
    refusals = [r.getMessage() for r in caplog.records if LOOPBACK_2 in r.getMessage()]
    assert len(refusals) == 2, refusals


async def test_a_feed_in_the_intranet_is_refused_and_the_reason_stored(
    admin: Reader, app, site: NewsSite, intranet: NewsSite
) -> None:
    direct = intranet.url("/rss")
    moved = site.redirect("/moved-rss", direct, status=301)
    for url in (direct, moved):
        answer = (await admin.says(f"/feeds add {url}")).plain
        assert f"first fetch failed: {LOOPBACK_2}" in answer
    statuses = await app.bot_data.store.feeds.statuses()
    assert [s.feed.last_error for s in statuses] == [LOOPBACK_2, LOOPBACK_2]
    assert f"⚠️ {LOOPBACK_2}" in (await admin.says("/feeds")).plain
    assert intranet.requests == []


# --- the check is on the address, after DNS -------------------------------------------------------------


async def test_a_name_that_resolves_to_loopback_is_refused(intranet: NewsSite) -> None:
    dns = StaticDNS({"intranet.example": ["127.0.0.2"]})
    url = f"http://intranet.example:{intranet.server.port}/secret/1"
    async with open_session(LOCAL_SITES, resolver=dns) as session:
        reason = await _refused(session, url)
    assert reason == "refused: intranet.example resolves to 127.0.0.2, a loopback address"
    assert dns.lookups == ["intranet.example"], "decided on what the name resolved to"
    assert intranet.requests == []


async def test_a_name_resolving_to_a_trusted_address_or_listed_by_name_is_fetched(intranet: NewsSite) -> None:
    port = intranet.server.port
    dns = StaticDNS({"intranet.example": ["127.0.0.2"], "other.example": ["127.0.0.2"]})
    async with open_session(FetchAllow.parse("Intranet.Example."), resolver=dns) as session:
        result = await fetch(session, f"http://intranet.example:{port}/secret/1")
        assert result.status == 200 and b"Internal memo 1" in result.body
        assert len(intranet.requests) == 1
        assert await _refused(session, f"http://127.0.0.2:{port}/secret/1") == LOOPBACK_2, (
            "trusting a name does not trust its address"
        )
        assert await _refused(session, f"http://other.example:{port}/secret/1") == (
            "refused: other.example resolves to 127.0.0.2, a loopback address"
        )
    assert len(intranet.requests) == 1


async def test_a_name_with_public_and_private_addresses_keeps_only_the_public_ones() -> None:
    dns = StaticDNS({"mixed.example": ["10.0.0.5", "93.184.216.34", "::1", "2606:2800:220:1::68", "fe80::1"]})
    resolver = GuardedResolver(FetchAllow(), dns)
    found = await resolver.resolve("mixed.example", 443, socket.AF_UNSPEC)
    assert [r["host"] for r in found] == ["93.184.216.34", "2606:2800:220:1::68"]


async def test_a_cidr_range_trusts_exactly_its_addresses(site: NewsSite, intranet: NewsSite) -> None:
    async with open_session(FetchAllow.parse("127.0.0.2/31")) as session:
        result = await fetch(session, intranet.url("/secret/1"))
        assert result.status == 200 and len(intranet.requests) == 1
        assert await _refused(session, site.url("/anything")) == "refused: 127.0.0.1 is a loopback address"
    assert site.requests == []


async def test_ipv6_loopback_mapped_and_odd_literals_are_refused(site: NewsSite, intranet: NewsSite) -> None:
    port = site.server.port
    async with NewsSite(host="::1") as ipv6:
        ipv6.page("/secret", article_page("Internal", SECRET_TEXT, DAY.date()))
        cases = {
            f"http://[::1]:{ipv6.server.port}/secret": "refused: ::1 is a loopback address",
            f"http://[::ffff:127.0.0.1]:{port}/x": "refused: ::ffff:7f00:1 is a loopback address",
            f"http://[::ffff:127.0.0.2]:{intranet.server.port}/secret/1": (
                "refused: ::ffff:7f00:2 is a loopback address"
            ),
            f"http://0.0.0.0:{port}/x": "refused: 0.0.0.0 is an unspecified address",
            f"http://127.1:{port}/x": "refused: 127.1 is not a canonical IP address",
        }
        async with open_session(FetchAllow()) as session:  # the default: nothing private is trusted
            assert {url: await _refused(session, url) for url in cases} == cases
        assert ipv6.requests == []
    assert site.requests == [] and intranet.requests == []


async def test_a_session_without_the_guard_cannot_fetch(site: NewsSite) -> None:
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(TypeError, match="guarded session"):
            await fetch(plain, site.url("/x"))
    assert site.requests == []


# --- newsbot import ------------------------------------------------------------------------------------


async def test_import_of_an_intranet_url_is_refused_in_one_line(tmp_path, intranet: NewsSite) -> None:
    url = intranet.url("/secret/1")
    env = clean_env(NEWSBOT_DB=str(tmp_path / "news.db"))
    refused = await asyncio.to_thread(newsbot, "import", url, env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr == f"error: {url}: {LOOPBACK_2}\n"
    assert intranet.requests == []

    env["NEWSBOT_FETCH_ALLOW"] = "127.0.0.2"  # the operator trusts it: then it is imported
    trusted = await asyncio.to_thread(newsbot, "import", url, env=env, cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.startswith("added #1: Internal memo 1")
    assert len(intranet.requests) == 1


# --- the classifier, against ipaddress ------------------------------------------------------------------

# Written out from the RFCs rather than taken from the code: every one of these must be refused.
NEVER = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "::ffff:127.0.0.0/104",
        "::ffff:10.0.0.0/104",
        "64:ff9b::a9fe:0/112",  # NAT64 to 169.254/16, the cloud metadata service
    )
]


def _in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy:
    return st.integers(0, network.num_addresses - 1).map(lambda i: network[i])


def _reaches(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host behind an IPv6 address, by the standards' definitions."""
    if address.version == 4:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(address.packed[-4:])
    return address.sixtofour


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """ipaddress's own words; it counts multicast and IANA-reserved (unassigned) space as global."""
    return address.is_global and not address.is_multicast and not address.is_reserved


@given(st.ip_addresses())
def test_an_address_is_allowed_exactly_when_ipaddress_calls_it_public(address) -> None:
    inner = _reaches(address)
    if inner is None:
        expected = _public(address)
    elif address.ipv4_mapped:
        expected = _public(inner)
    else:
        expected = _public(inner) and _public(address)
    assert (address_refusal(address) is None) == expected


@given(st.sampled_from(NEVER).flatmap(_in))
def test_private_loopback_link_local_multicast_and_reserved_are_always_refused(address) -> None:
    assert address_refusal(address) is not None
    assert FetchAllow.parse("cms.intranet").refusal(address) is not None, "a host entry trusts no address"


@given(st.ip_addresses(v=4))
def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_host(address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert address_refusal(mapped) == address_refusal(address)


@given(st.ip_addresses(v=4), st.integers(8, 32), st.sampled_from(NEVER[:9]).flatmap(_in))
def test_a_trusted_range_allows_its_addresses_and_no_others(base, prefix, private) -> None:
    network = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    allow = FetchAllow.parse(str(network))
    assert allow.refusal(base) is None
    assert allow.refusal(ipaddress.IPv6Address(f"::ffff:{base}")) is None
    assert (allow.refusal(private) is None) == (private in network)
