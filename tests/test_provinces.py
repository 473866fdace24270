"""Tests for the province list and the Turkish-aware province matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.weather import provinces
from bot.weather.provinces import (
    MAX_QUERY_LENGTH,
    PROVINCES,
    MatchResult,
    by_plate,
    first_letters,
    match_province,
    provinces_by_letter,
    provinces_in_region,
    regions,
    turkish_fold,
    turkish_lower,
    turkish_sort_key,
    turkish_upper,
)

# --- data ---------------------------------------------------------------------------------


def test_81_provinces_with_unique_plates_names_and_slugs() -> None:
    assert len(PROVINCES) == 81
    assert [p.plate for p in PROVINCES] == list(range(1, 82))
    assert len({p.name for p in PROVINCES}) == 81
    assert len({p.slug for p in PROVINCES}) == 81
    assert len({turkish_fold(p.name) for p in PROVINCES}) == 81


def test_province_fields_are_sane() -> None:
    for p in PROVINCES:
        assert 35.5 < p.latitude < 42.5 and 25.5 < p.longitude < 45.0, p
        assert turkish_fold(p.name) == p.slug
        assert p.region_tr and p.region_en


def test_by_plate() -> None:
    assert by_plate(34).name == "İstanbul"  # type: ignore[union-attr]
    assert by_plate(1).name == "Adana"  # type: ignore[union-attr]
    assert by_plate(81).name == "Düzce"  # type: ignore[union-attr]
    assert by_plate(0) is None
    assert by_plate(82) is None


def test_attribution_shipped_beside_data() -> None:
    from importlib import resources

    notice = resources.files("bot.weather").joinpath("data", "NOTICE").read_text(encoding="utf-8")
    assert "ubeydeozdmr/turkiye-api" in notice
    assert "MIT" in notice


# --- matching: sure matches ---------------------------------------------------------------

SURE_MATCHES = [
    # official names in several cases
    ("İstanbul", 34),
    ("İSTANBUL", 34),
    ("istanbul", 34),
    ("ISTANBUL", 34),
    ("  İstanbul  ", 34),
    ("İstanbul'da", 34),
    ("Ankara’nın", 6),
    ("K.Maraş'ta", 46),
    ("İzmir", 35),
    ("İZMİR", 35),
    ("Ankara", 6),
    ("ANKARA", 6),
    ("Şanlıurfa", 63),
    ("ŞANLIURFA", 63),
    ("Iğdır", 76),
    ("IĞDIR", 76),
    ("ığdır", 76),
    ("Çankırı", 18),
    ("ÇANKIRI", 18),
    ("Kırşehir", 40),
    ("Kırıkkale", 71),
    ("Kırklareli", 39),
    ("Kahramanmaraş", 46),
    ("Afyonkarahisar", 3),
    ("Gaziantep", 27),
    ("Mersin", 33),
    ("Muğla", 48),
    ("Muş", 49),
    ("Van", 65),
    ("Düzce", 81),
    ("Hakkari", 30),
    ("Hakkâri", 30),
    ("HAKKÂRİ", 30),
    # ASCII spellings
    ("Istanbul", 34),
    ("Izmir", 35),
    ("Sanliurfa", 63),
    ("Igdir", 76),
    ("Cankiri", 18),
    ("Kirsehir", 40),
    ("Kirikkale", 71),
    ("Kirklareli", 39),
    ("Kahramanmaras", 46),
    ("Gumushane", 29),
    ("Eskisehir", 26),
    # plate codes
    ("34", 34),
    ("6", 6),
    ("06", 6),
    ("01", 1),
    ("81", 81),
    (" 35 ", 35),
    # aliases
    ("K.Maraş", 46),
    ("K. Maraş", 46),
    ("Maraş", 46),
    ("Kmaras", 46),
    ("K.MARAŞ", 46),
    ("Maras", 46),
    ("Afyon", 3),
    ("AFYON", 3),
    ("Antep", 27),
    ("G.Antep", 27),
    ("G. Antep", 27),
    ("Urfa", 63),
    ("Ş.Urfa", 63),
    ("S.Urfa", 63),
    ("İçel", 33),
    ("Icel", 33),
    ("İzmit", 41),
    ("Adapazarı", 54),
    ("Antakya", 31),
]


@pytest.mark.parametrize(("query", "plate"), SURE_MATCHES)
def test_sure_matches(query: str, plate: int) -> None:
    result = match_province(query)
    assert result.province is not None, query
    assert result.province.plate == plate
    assert result.kind in {"exact", "alias", "plate"}
    assert result.suggestions == ()


def test_match_kinds() -> None:
    assert match_province("İstanbul").kind == "exact"
    assert match_province("Istanbul").kind == "exact"
    assert match_province("Antep").kind == "alias"
    assert match_province("34").kind == "plate"


@pytest.mark.parametrize("query", ["0", "00", "82", "99", "-1", "100", "034", "3.4", "34 35"])
def test_out_of_range_plates_do_not_match(query: str) -> None:
    result = match_province(query)
    assert result.province is None
    assert result.suggestions == ()
    assert result.kind == "none"


# --- matching: typos give suggestions, never a silent pick --------------------------------


def _suggested(query: str) -> list[int]:
    result = match_province(query)
    assert result.province is None, f"{query!r} silently picked {result.province}"
    assert result.kind == "suggestions"
    assert 1 <= len(result.suggestions) <= 3
    return [p.plate for p in result.suggestions]


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("Kirsehr", 40),
        ("Kırşehr", 40),
        ("Kirikale", 71),
        ("Kırkkale", 71),
        ("Kirklarel", 39),
        ("Kırklarli", 39),
        ("Istambul", 34),
        ("Izmr", 35),
        ("Ankra", 6),
        ("Eskisehr", 26),
        ("Diyarbakr", 21),
        ("Sanlurfa", 63),
        ("Gaziantp", 27),
        ("Kahramanmars", 46),
        ("Trabzn", 61),
    ],
)
def test_typos_suggest_the_right_province_first(query: str, best: int) -> None:
    assert _suggested(query)[0] == best


def test_ambiguous_prefix_offers_all_near_neighbours() -> None:
    assert sorted(_suggested("Kır")) == [39, 40, 71]
    assert sorted(_suggested("kir")) == [39, 40, 71]


def test_suggestions_are_distinct_provinces() -> None:
    plates = _suggested("Mar")
    assert len(plates) == len(set(plates))


GARBAGE = [
    "",
    " ",
    "\n\t ",
    "x" * 4000,
    "İstanbul" * 500,
    "<script>alert(1)</script>",
    "<b>Ankara</b><i>Izmir</i><u>x</u><s>y</s><p>z</p><a>q</a>x" * 2,
    "'; DROP TABLE provinces; --",
    "SELECT * FROM users WHERE 1=1",
    "🌧️",
    "🇹🇷🇹🇷🇹🇷",
    "...",
    "'",
    "hello world",
    "news",
    "Москва",
    "東京",
    "\x00\x01",
]


@pytest.mark.parametrize("query", GARBAGE)
def test_garbage_gives_no_match(query: str) -> None:
    result = match_province(query)
    assert result == MatchResult(province=None, suggestions=(), kind="none")


def test_long_input_is_rejected_before_any_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    def too_far(*args: object) -> None:
        raise AssertionError("a long query reached the (costly) normalising and fuzzy matching")

    monkeypatch.setattr(provinces, "_compact", too_far)
    monkeypatch.setattr(provinces, "_suggest", too_far)
    for query in ("ş" * 4000, "x" * (MAX_QUERY_LENGTH + 1), " Ankara " * 100):
        assert match_province(query) == MatchResult(province=None, suggestions=(), kind="none")


@given(st.text())
def test_match_province_never_raises(text: str) -> None:
    result = match_province(text)
    assert len(result.suggestions) <= 3
    assert result.province is None or result.suggestions == ()


@given(st.text(alphabet="abcçdefgğhıijklmnoöprsştuüvyzABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZâîû .'", max_size=20))
def test_match_province_never_raises_on_turkish_letters(text: str) -> None:
    match_province(text)


# --- text helpers --------------------------------------------------------------------------


def test_turkish_fold() -> None:
    assert turkish_fold("İSTANBUL") == "istanbul"
    assert turkish_fold("IĞDIR") == "igdir"
    assert turkish_fold("İstanbul".lower()) == "istanbul"  # combining dot from str.lower()
    assert turkish_fold("Hakkâri") == "hakkari"
    assert turkish_fold("K. Maraş") == "k maras"
    assert turkish_fold("  Şanlı   Urfa!  ") == "sanli urfa"


@given(st.text())
def test_turkish_fold_is_idempotent(text: str) -> None:
    once = turkish_fold(text)
    assert turkish_fold(once) == once


def test_turkish_case() -> None:
    assert turkish_lower("IĞDIR İZMİR") == "ığdır izmir"
    assert turkish_upper("ığdır izmir") == "IĞDIR İZMİR"


def test_turkish_sort_key() -> None:
    names = ["Çorum", "Ceyhan", "Ünye", "Uşak", "İzmir", "Iğdır", "Şırnak", "Sivas", "Zonguldak"]
    assert sorted(names, key=turkish_sort_key) == [
        "Ceyhan",
        "Çorum",
        "Iğdır",
        "İzmir",
        "Sivas",
        "Şırnak",
        "Uşak",
        "Ünye",
        "Zonguldak",
    ]


# --- pickers ---------------------------------------------------------------------------------


def test_regions_cover_all_provinces_in_stable_order() -> None:
    pairs = regions()
    assert len(pairs) == 7
    assert pairs[0] == ("Marmara", "Marmara")
    assert pairs == regions()
    counted = [p for _, en in pairs for p in provinces_in_region(en)]
    assert sorted(p.plate for p in counted) == list(range(1, 82))
    assert provinces_in_region("Atlantis") == []


def test_region_members_are_alphabetical() -> None:
    central = provinces_in_region("Central Anatolia")
    assert by_plate(18) in central  # Çankırı (corrected region)
    assert [p.name for p in central] == sorted((p.name for p in central), key=turkish_sort_key)


def test_letter_picker() -> None:
    letters = first_letters()
    assert letters == sorted(letters, key=turkish_sort_key)
    assert letters.index("I") + 1 == letters.index("İ")
    assert letters.index("Ç") == letters.index("B") + 1
    assert [p.name for p in provinces_by_letter("İ")] == ["İstanbul", "İzmir"]
    assert [p.name for p in provinces_by_letter("i")] == ["İstanbul", "İzmir"]
    assert [p.name for p in provinces_by_letter("I")] == ["Iğdır", "Isparta"]
    assert [p.name for p in provinces_by_letter("ş")] == ["Şanlıurfa", "Şırnak"]
    assert provinces_by_letter("Q") == []
    assert provinces_by_letter("") == []
    assert sum(len(provinces_by_letter(letter)) for letter in letters) == 81
