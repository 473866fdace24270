"""URL normalisation and Turkish text folding, so one article is stored once however it was linked."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

from storage.folding import fold_text

try:  # idna ships with yarl (an aiohttp dependency); the stdlib codec is the fallback
    import idna
except ImportError:  # pragma: no cover
    idna = None  # type: ignore[assignment]

__all__ = ["TRACKING_PARAMS", "fold_text", "http_url_parts", "normalize_url"]

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "yclid", "msclkid", "twclid", "ttclid",
        "mc_cid", "mc_eid", "igshid", "ref", "ref_src", "ref_url", "_ga", "_gl", "_hsenc", "_hsmi",
        "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "rb_clickid", "s_cid",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def http_url_parts(url: str) -> SplitResult | None:
    """The parts of an http(s) URL with a host and a port from 1 to 65535, else None: never raises.

    urlsplit raises for a malformed authority ("http://[x") and .port for a bad port ("h:99999"); every
    caller that reads operator or reader input needs both answered as "not a URL", not as a traceback.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not host or port == 0:  # .port refuses > 65535 itself
        return None
    return parts


def _is_tracking(key: str) -> bool:
    """Tell whether a query key only identifies a campaign or click, not the page."""
    key = key.lower()
    return key in TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES)


def _normalize_escapes(part: str) -> str:
    """Decode needlessly escaped unreserved characters and upper-case the rest, so equal URLs match."""

    def repl(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return quote(_PCT.sub(repl, part), safe=_PATH_SAFE)


def _normalize_host(host: str) -> str:
    """Lower-case a host and turn an internationalised name into its ASCII form, one spelling per host."""
    if host.isascii():
        return host.lower()
    if idna is not None:
        try:
            return idna.encode(host, uts46=True).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError, ValueError):
            pass
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host.lower()


def _normalize_http(parts: SplitResult, scheme: str) -> str:
    """Rebuild an http(s) URL in canonical form; raises ValueError for a malformed authority."""
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    host = _normalize_host(host)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    path = _normalize_escapes(parts.path).rstrip("/") or "/"
    pairs = parse_qsl(parts.query, keep_blank_values=True, errors="replace")
    query = urlencode(sorted((k, v) for k, v in pairs if not _is_tracking(k)))
    return urlunsplit((scheme, netloc, path, query, ""))


def normalize_url(url: str) -> str:
    """Canonicalise an article URL so the same page reached via different links deduplicates.

    Non-http(s) or unparseable input comes back stripped but otherwise unchanged; never raises.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return text
        return _normalize_http(parts, scheme)
    except (ValueError, UnicodeError):
        return text
