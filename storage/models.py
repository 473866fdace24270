"""Plain dataclasses that leave the storage layer; no rows or cursors escape it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Chat:
    """A reader, group or channel, with what the bot needs to address it."""

    chat_id: int
    chat_type: str
    language_code: str | None
    language: str | None
    subscribed: bool
    reachable: bool

    @property
    def active(self) -> bool:
        """Active subscribers get broadcasts: subscribed and not blocked."""
        return self.subscribed and self.reachable


@dataclass(frozen=True)
class ArticleDraft:
    """An article before it has an id: what sources and admins produce."""

    title: str
    body: str
    published_at: datetime
    source: str
    url: str | None = None
    url_key: str | None = None
    guid: str | None = None
    content_hash: str | None = None  # headline and body, only when there is neither guid nor link
    feed_id: int | None = None
    item_key: str | None = None  # a feed item's normalised headline and text, hashed: changes are corrections
    image_url: str | None = None  # the lead photo: feed item's media, else the page's og:image
    photo_file_id: str | None = None  # a photo already on Telegram (an operator's /post photo)
    language: str | None = None  # ISO 639-1; None = NEWSBOT_DEFAULT_LANGUAGE
    section_id: int = 1  # 1 = General
    breaking: bool = False


@dataclass(frozen=True)
class Article:
    """A stored article."""

    id: int
    title: str
    body: str
    url: str | None
    published_at: datetime
    source: str
    version: int = 1  # 1 as first published; each correction adds one
    updated_at: datetime | None = None  # the last correction, shown as "updated HH:MM"
    withdrawn_at: datetime | None = None  # retracted by the editors: readers get "withdrawn" instead
    withdrawn_reason: str | None = None
    image_url: str | None = None  # the lead photo's address, fetched once (bot/photos/)
    photo_file_id: str | None = None  # Telegram's file_id after the first upload; later sends reuse it
    photo_error: str | None = None  # why the photo is not used (then the article goes out as text)
    language: str | None = None  # ISO 639-1; None = NEWSBOT_DEFAULT_LANGUAGE (stored before it was known)
    section_id: int = 1  # 1 = General
    breaking: bool = False

    @property
    def withdrawn(self) -> bool:
        """Retracted: it leaves every list and link."""
        return self.withdrawn_at is not None


@dataclass(frozen=True)
class SearchPage:
    """One page of search results and how many matched (`more`: even more than `total`)."""

    articles: list[Article]
    total: int
    more: bool


@dataclass(frozen=True)
class SubscriptionChange:
    """What /subscribe or /unsubscribe did, so the reply can say so."""

    changed: bool
    subscribed: bool


@dataclass(frozen=True)
class Forecast:
    """One province's forecast for one day, as Open-Meteo gave it."""

    plate: int
    day: date
    temp_max: float | None
    temp_min: float | None
    weather_code: int | None
    precipitation_probability: int | None
    fetched_at: datetime
    precipitation_sum: float | None = None  # mm over the day
    wind_gusts_max: float | None = None  # km/h, the day's strongest gust


@dataclass(frozen=True)
class CurrentConditions:
    """One province's weather now, as Open-Meteo gave it: `observed_at` is the conditions' own time (UTC)."""

    plate: int
    observed_at: datetime
    temperature: float | None
    weather_code: int | None
    fetched_at: datetime


@dataclass(frozen=True)
class WeatherReport:
    """Everything one Open-Meteo answer holds: daily forecasts and current conditions of every province."""

    forecasts: list[Forecast]
    current: list[CurrentConditions]


@dataclass(frozen=True)
class WeatherAlert:
    """A severe-weather finding for one province and day; `value` is the figure that raised it."""

    plate: int
    day: date
    kind: str  # see bot/weather/alerts.py ALERT_KINDS
    value: float | None


@dataclass(frozen=True)
class WeatherSettings:
    """A chat's home province, morning push time ("HH:MM", None when switched off) and alerts switch."""

    province: int | None
    weather_time: str | None
    alerts: bool = True


@dataclass(frozen=True)
class Feed:
    """A feed the poller fetches, with its conditional-GET validators and backoff state."""

    id: int
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    primed: bool
    failures: int
    next_fetch_at: float
    last_fetch_at: float | None
    last_error: str | None
    language: str | None = None  # the operator's; None = detect (feed, page, then the default)
    section_id: int = 1
    breaking: bool = False  # every item is breaking news


@dataclass(frozen=True)
class FeedStatus:
    """A feed as operators see it in `newsbot feed list` and /feeds."""

    feed: Feed
    article_count: int
    section: Section | None = None


@dataclass(frozen=True)
class InviteCounts:
    """How many friends joined through a reader's links, and how many of them are active subscribers."""

    friends: int
    subscribers: int


@dataclass(frozen=True)
class ReferrerStat:
    """One line of the operators' "top sharers" table."""

    user_id: int
    friends: int
    subscribers: int


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery with what the sender needs: what to render and in which language."""

    broadcast_id: int
    chat_id: int
    kind: str
    ref: str
    attempts: int
    chat_type: str
    language: str | None
    language_code: str | None
    silent: bool = False  # send with disable_notification (breaking news or a digest in quiet hours)
    matched: str | None = None  # the reader's followed phrase that brought the article
    revision: int = 1  # the article version an article broadcast renders now (a correction bumps it)
    target: int | None = None  # an edit or withdrawal: the message it acts on
    target_at: float | None = None  # ... when that message was sent (unix time)
    target_photo: bool = False  # ... and whether it was a photo (its caption is edited)


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one delivery ended this time: sent, retry later (not_before), or failed for good."""

    broadcast_id: int
    chat_id: int
    status: str  # sent | retry | failed
    error: str | None = None
    not_before: float = 0.0
    count_attempt: bool = True  # a flood-control reschedule is not the delivery's fault
    message_id: int | None = None  # the message Telegram created (sent), kept to edit or delete it later
    photo: bool = False  # that message is a photo with a caption
    revision: int | None = None  # the article version it showed; an older one gets the pending edit too


@dataclass(frozen=True)
class BroadcastProgress:
    """Deliveries of one broadcast: all of them and those no longer pending."""

    broadcast_id: int
    kind: str
    ref: str
    total: int
    done: int


@dataclass(frozen=True)
class DeliveryArchive:
    """Deliveries pruned after the retention period, kept as counts: from which day to which (UTC)."""

    first_day: str
    last_day: str
    sent: int
    failed: int


@dataclass(frozen=True)
class StatsOverview:
    """What /stats shows operators: audience, content and the outbox of the last day."""

    active: int
    by_language: list[tuple[str, int]]
    by_chat_type: list[tuple[str, int]]
    by_province: list[tuple[str, int]]
    articles: int
    pending: int
    sent_24h: int
    failed_24h: int
    archived: DeliveryArchive | None = None  # pruned deliveries' totals (storage/retention.py)


@dataclass(frozen=True)
class ArticleRoute:
    """What routing and a pushed article message need: its language, section (both labels), breaking."""

    article_id: int
    language: str
    section_id: int
    section_tr: str
    section_en: str
    breaking: bool


@dataclass(frozen=True)
class DigestCandidate:
    """An announced article a digest may list, with the followed phrases it contains (folded)."""

    id: int
    language: str
    section_id: int
    breaking: bool
    matches: frozenset[str]


@dataclass(frozen=True)
class DigestProfile:
    """Due digest readers who get the same digest: same slot, languages, muted sections, start, follows."""

    slot: float
    languages: str  # "en,tr"
    muted: str  # ",3,7," or ""
    after: int  # articles after this id
    follows: str  # the reader's followed phrases (folded) that some candidate contains, "|"-joined


@dataclass(frozen=True)
class DigestBatch:
    """One chunk of due digest readers, grouped: what the planner needs to decide every digest."""

    readers: int
    profiles: list[DigestProfile]
    candidates: list[DigestCandidate]
    times: list[str | None]  # the distinct digest_times of these readers, to compute their next slot
    max_id: int  # the newest article id considered: the readers' next digest starts after it


@dataclass(frozen=True)
class DigestContent:
    """What one digest message lists (article ids in order) and how many more articles there were."""

    article_ids: tuple[int, ...]
    more: int


@dataclass(frozen=True)
class Section:
    """A group of articles readers switch on and off ("Ekonomi/Economy"); id 1 is General."""

    id: int
    key: str
    label_tr: str
    label_en: str

    def label(self, lang: str) -> str:
        """The label in a reader's language (English for anything but Turkish, as the interface)."""
        return self.label_tr if lang == "tr" else self.label_en


@dataclass(frozen=True)
class FollowedPhrase:
    """A followed word or phrase: as the reader typed it, and folded as /search folds it."""

    folded: str
    phrase: str


@dataclass(frozen=True)
class FollowChange:
    """What /follow did with each phrase: added, followed already (as first typed), or over the limit."""

    added: tuple[str, ...]
    known: tuple[str, ...]
    full: tuple[str, ...]
    count: int  # phrases the chat follows now


@dataclass(frozen=True)
class UnfollowChange:
    """What /unfollow did: phrases removed (as they were typed) and phrases the chat did not follow."""

    removed: tuple[str, ...]
    unknown: tuple[str, ...]


@dataclass(frozen=True)
class ReaderChoices:
    """Everything a chat chose about what it gets and when (storage/migrations/0012), read in one query."""

    chat_id: int
    subscribed: bool  # subscribed and reachable: choices only matter then
    interface_language: str
    languages: tuple[str, ...]  # the article languages it gets: its choice, else its interface language
    languages_chosen: bool  # False while it follows the interface language
    muted_sections: frozenset[int]
    follows: tuple[FollowedPhrase, ...]  # alphabetical (folded)
    digest_times: str | None  # "08:00,18:30"
    digest_next: float | None
    digest_after: int | None
    quiet_start: int | None  # minutes after Istanbul midnight
    quiet_end: int | None
    quiet_next_end: float | None
    weather_map: bool = False  # the morning forecast comes with the map of Turkey (/weathermap)


@dataclass(frozen=True)
class DayMaxima:
    """Every province's maximum temperature for one day (what the map draws), and the oldest fetch time."""

    day: date
    maxima: dict[int, float | None]
    fetched_at: datetime


@dataclass(frozen=True)
class MapReader:
    """A reader due for the morning map: where to send it and in which language to caption it."""

    chat_id: int
    province: int
    language: str | None
    language_code: str | None


@dataclass(frozen=True)
class BroadcastStatus:
    """One broadcast as the operators' chart shows it: how many of its deliveries are done and how."""

    broadcast_id: int
    kind: str
    ref: str
    title: str | None  # the article's headline, for kind "article"
    total: int
    pending: int  # queued or being sent
    failed: int
    filling: bool  # its audience is still being queued

    @property
    def done(self) -> int:
        """Deliveries no longer pending: sent or failed."""
        return self.total - self.pending


@dataclass(frozen=True)
class ArticleReach:
    """How far one article got (/stats N): its broadcast, digests, deep-link opens and friends it brought."""

    article_id: int
    title: str
    published_at: datetime
    broadcast: bool  # pushed to subscribers at all (a feed's backlog is not)
    filling: bool
    total: int
    sent: int
    failed: int
    pending: int
    pruned: int  # finished deliveries deleted by retention; only their daily totals remain
    digest_sent: int
    digest_failed: int
    digest_pending: int
    opened: int  # readers who opened it through a deep link
    opened_via_share: int  # ... of them through someone else's shared link
    joined: int  # new readers who came to the bot through a link to it
    joined_subscribed: int  # ... of them active subscribers now
    withdrawn: bool = False  # retracted by the editors
    followups: tuple[FollowupStatus, ...] = ()  # its edits and its withdrawal, oldest first


@dataclass(frozen=True)
class FollowupStatus:
    """How far an edit or a withdrawal of an article's delivered copies got."""

    kind: str  # edit | withdraw
    ref: str
    total: int
    sent: int
    failed: int
    pending: int
