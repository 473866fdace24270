"""Deep-link payloads: always inside Telegram's alphabet and length, and parsed back exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.arguments import parse_offset
from bot.sharing import MAX_ARTICLE_ID, ShareLink, deep_link, parse_share_link, share_url
from storage.referrals import INVITE_CODE_ALPHABET, INVITE_CODE_LENGTH, new_invite_code

TELEGRAM_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
codes = st.text(alphabet=INVITE_CODE_ALPHABET, min_size=INVITE_CODE_LENGTH, max_size=INVITE_CODE_LENGTH)
links = st.one_of(
    st.builds(ShareLink, article_id=st.integers(1, MAX_ARTICLE_ID)),
    st.builds(ShareLink, invite_code=codes),
    st.builds(ShareLink, article_id=st.integers(1, MAX_ARTICLE_ID), invite_code=codes),
)


@given(links)
def test_every_payload_is_a_valid_telegram_deep_link_and_parses_back(link: ShareLink):
    assert TELEGRAM_PAYLOAD.fullmatch(link.payload)
    assert parse_share_link([link.payload]) == link
    url = deep_link("newsbot_test_bot", link)
    assert url == f"https://t.me/newsbot_test_bot?start={link.payload}"


@given(st.text(max_size=100), st.lists(st.text(max_size=70), max_size=3))
def test_parsing_anything_never_raises(text: str, args: list[str]):
    for candidate in ([text], args):
        link = parse_share_link(candidate)
        assert link is None or TELEGRAM_PAYLOAD.fullmatch(link.payload)


def test_the_documented_formats():
    code = "7Gx9kQ2a"
    assert parse_share_link(["a12"]) == ShareLink(12)
    assert parse_share_link([f"r{code}"]) == ShareLink(invite_code=code)
    assert parse_share_link([f"a12-r{code}"]) == ShareLink(12, code)
    bad_ones = ("a0", "a012", "a12-", f"r{code}x", f"a12r{code}", f"-r{code}", f"r{code}-a12", "a1234567890")
    for bad in (*bad_ones, ""):
        assert parse_share_link([bad]) is None, bad
    assert parse_share_link(["a12", "a13"]) is None


@pytest.mark.parametrize(
    "link", [ShareLink(), ShareLink(0), ShareLink(MAX_ARTICLE_ID + 1), ShareLink(invite_code="short")]
)
def test_impossible_links_are_refused_rather_than_sent(link: ShareLink):
    with pytest.raises(ValueError):
        link.payload  # noqa: B018


def test_invite_codes_are_opaque_and_well_formed():
    drawn = {new_invite_code() for _ in range(200)}
    assert len(drawn) == 200
    assert all(re.fullmatch(rf"[A-Za-z0-9]{{{INVITE_CODE_LENGTH}}}", code) for code in drawn)


def test_share_url_escapes_the_link_and_text():
    url = share_url("https://t.me/bot?start=rABCDEFGH", "Haberler & daha fazlası")
    assert url.startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fbot%3Fstart%3DrABCDEFGH&text=")
    assert " " not in url and "&daha" not in url


@pytest.mark.parametrize(
    ("text", "expected"), [("", 0), ("20", 20), ("1000", 1000), ("1001", None), ("-1", None), ("x", None)]
)
def test_inline_offsets(text: str, expected: int | None):
    assert parse_offset(text, maximum=1000) == expected
