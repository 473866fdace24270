"""SQLite's placeholders turned into asyncpg's, without a server: what is rewritten and what never is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.postgres.sql import arguments, redact_url, status_count, translate


def test_question_marks_become_numbered() -> None:
    assert translate("UPDATE chats SET language = ? WHERE chat_id = ?") == (
        "UPDATE chats SET language = $1 WHERE chat_id = $2",
        None,
    )


def test_named_placeholders_in_order_of_first_use() -> None:
    assert translate("INSERT INTO t (a, b, c) VALUES (:b, :a, :b)") == (
        "INSERT INTO t (a, b, c) VALUES ($1, $2, $1)",
        ("b", "a"),
    )
    assert arguments("SELECT :x, :y", {"y": 2, "x": 1}) == ("SELECT $1, $2", (1, 2))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT '?' , 'it''s :name ?', \"odd?col\" FROM t",
        "SELECT 1 -- why? :because\n",
        "SELECT /* ? :x */ 1",
        "SELECT $$ ? :x $$, $fn$ ? $fn$",
        "SELECT x::text, y::double precision FROM t WHERE z = $1",
        "SELECT '{0, 0, 0.5, 1}'::float4[]",
    ],
)
def test_literals_comments_casts_and_dollar_placeholders_pass_unchanged(sql: str) -> None:
    assert translate(sql) == (sql, None)


def test_placeholders_beside_literals() -> None:
    statement, _ = translate("SELECT ':not', ? FROM t WHERE a::int = ?")
    assert statement == "SELECT ':not', $1 FROM t WHERE a::int = $2"


def test_mixing_styles_and_wrong_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="mix"):
        translate("SELECT ? WHERE a = :a")
    with pytest.raises(ValueError, match="mapping"):
        arguments("SELECT :a", (1,))
    with pytest.raises(ValueError, match=":b"):
        arguments("SELECT :a, :b", {"a": 1})
    with pytest.raises(ValueError, match="named parameters"):
        arguments("SELECT ?", {"a": 1})


@given(st.text(alphabet=st.characters(blacklist_characters="?:$'\"-/")))
def test_text_without_placeholder_characters_is_untouched(sql: str) -> None:
    assert translate(sql) == (sql, None)


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="?:$'\"-/"), max_size=8), max_size=12))
def test_every_question_mark_outside_quotes_is_counted(pieces: list[str]) -> None:
    statement, names = translate("?".join(pieces))
    assert names is None
    assert statement == "".join(
        piece + (f"${number}" if number < len(pieces) else "") for number, piece in enumerate(pieces, 1)
    )


def test_status_counts() -> None:
    assert status_count("UPDATE 3") == 3
    assert status_count("INSERT 0 1") == 1
    assert status_count("DELETE 0") == 0
    assert status_count("CREATE TABLE") == -1


def test_urls_lose_their_password() -> None:
    assert redact_url("postgresql://bot:s3cret@db.example:5432/news") == "postgresql://bot:***@db.example:5432/news"
    assert redact_url("postgresql://bot@db.example/news") == "postgresql://bot@db.example/news"
    assert "s3cret" not in redact_url("postgresql://bot:s3cret@[::1]:5432/news")
