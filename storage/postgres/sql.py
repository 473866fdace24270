"""SQLite's placeholders (`?`, `:name`) as asyncpg's `$1, $2 ...`, so one statement serves both backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Params = Sequence[Any] | Mapping[str, Any]


@lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """Rewrite `?` (positional) or `:name` (named) placeholders outside literals, identifiers and comments.

    Returns the statement for asyncpg and, for named placeholders, the names in `$n` order (None for
    positional ones). `::type` casts and `$n` placeholders pass unchanged; `?` and `:name` cannot be mixed.
    """
    out: list[str] = []
    names: list[str] = []
    positional = 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":  # a string literal or a quoted identifier; a doubled quote stays inside
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        elif c == "$" and (tag_end := _dollar_tag_end(sql, i)) is not None:  # $$ ... $$ or $tag$ ... $tag$
            tag = sql[i:tag_end]
            end = sql.find(tag, tag_end)
            end = n if end < 0 else end + len(tag)
            out.append(sql[i:end])
            i = end
        elif c == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif c == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[i + 1 : end]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = end
        else:
            out.append(c)
            i += 1
    if positional and names:
        raise ValueError("a statement cannot mix ? and :name placeholders")
    return "".join(out), (tuple(names) if names else None)


def _dollar_tag_end(sql: str, start: int) -> int | None:
    """The end of a dollar-quote opening tag at `start` ($$ or $tag$), None for `$1` or a lone `$`."""
    end = start + 1
    while end < len(sql) and (sql[end].isalnum() or sql[end] == "_"):
        end += 1
    if end >= len(sql) or sql[end] != "$" or sql[start + 1 : start + 2].isdigit():  # a tag never starts
        return None  # with a digit, so $1 is a placeholder
    return end + 1


def arguments(sql: str, params: Params) -> tuple[str, tuple[Any, ...]]:
    """The asyncpg statement and its argument tuple for `sql` with sqlite3-style `params`."""
    statement, names = translate(sql)
    if names is None:
        if isinstance(params, Mapping):
            if params:
                raise ValueError("named parameters given to a statement without :name placeholders")
            return statement, ()
        return statement, tuple(params)
    if not isinstance(params, Mapping):
        raise ValueError("a statement with :name placeholders needs a mapping of parameters")
    try:
        return statement, tuple(params[name] for name in names)
    except KeyError as missing:
        raise ValueError(f"no value for the placeholder :{missing.args[0]}") from None


def status_count(status: str) -> int:
    """The row count of an asyncpg command status ("UPDATE 3", "INSERT 0 1"); -1 for one without a count."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


def redact_url(url: str) -> str:
    """The connection URL without its password, fit for logs and error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "postgresql://<unparsable URL>"
