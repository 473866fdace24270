"""A typed callback context: handlers reach services as attributes, not bot_data["..."] lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CallbackContext, ExtBot

from bot.access import ChatAdmins, in_operator_chat, may_change_chat
from bot.clock import utc_now
from bot.render import DEFAULT_LANGUAGE, Renderer
from bot.views import RenderedMessage

if TYPE_CHECKING:
    from bot.delivery import DeliveryEngine
    from bot.instances import Role
    from bot.photos import ArticlePhotos
    from bot.settings import Settings
    from bot.stats.charts import StatsCharts
    from bot.weather.maps import WeatherMaps
    from bot.weather.service import WeatherService
    from storage import Store


@dataclass
class Services:
    """What handlers and jobs share; filled in by build_application and post_init."""

    settings: Settings | None = None
    renderer: Renderer = field(default_factory=Renderer)
    store: Store | None = None
    delivery: DeliveryEngine | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    weather: WeatherService | None = None
    weather_maps: WeatherMaps | None = None  # the map of Turkey: drawn once per forecast, sent by file_id
    charts: StatsCharts | None = None  # the operators' /stats chart, drawn at most once a minute
    photos: ArticlePhotos | None = None  # articles' lead photos: fetched and uploaded once each
    clock: Callable[[], datetime] = utc_now  # tests move time; jobs and services ask this
    chat_admins: ChatAdmins = field(default_factory=ChatAdmins)  # getChatMember answers, cached briefly
    role: Role | None = None  # whether this instance sends and runs the jobs (bot/instances/)


class NewsbotContext(CallbackContext[ExtBot, dict, dict, Services]):
    """Per-update context with the reader's language resolved once by the prelude handler."""

    def __init__(
        self, application: Application, chat_id: int | None = None, user_id: int | None = None
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self.lang: str = DEFAULT_LANGUAGE

    @property
    def services(self) -> Services:
        """The shared services."""
        return self.bot_data

    @property
    def store(self) -> Store:
        """The database."""
        assert self.bot_data.store is not None, "store is opened in post_init"
        return self.bot_data.store

    @property
    def settings(self) -> Settings:
        """The operator's configuration."""
        assert self.bot_data.settings is not None
        return self.bot_data.settings

    @property
    def renderer(self) -> Renderer:
        """Templates."""
        return self.bot_data.renderer

    def render(self, name: str, **values: Any) -> str:
        """A message template in the reader's language."""
        return self.renderer.message(self.lang, name, **values)

    def label(self, name: str, *args: Any) -> str:
        """A label in the reader's language."""
        return self.renderer.label(self.lang, name, *args)

    def is_operator(self, update: Update) -> bool:
        """An operator (NEWSBOT_ADMIN_IDS) in a private chat with the bot, never in a group."""
        return in_operator_chat(update, self.settings.admin_ids)

    async def may_change_chat(self, update: Update) -> bool:
        """The one check before anything changes a chat's state: private chats, or a group's admins."""
        services = self.services
        return await may_change_chat(update, self.bot, services.chat_admins, services.clock().timestamp())

    async def reply(
        self, update: Update, name: str, reply_markup: Any = None, **values: Any
    ) -> Message | None:
        """Render a template in the reader's language and answer in the same chat."""
        return await self.send(update, RenderedMessage(self.render(name, **values), reply_markup))

    async def send(self, update: Update, message: RenderedMessage) -> Message | None:
        """Answer with an already rendered message; an article with a usable lead photo as that photo."""
        chat = update.effective_chat
        if chat is None:
            return None
        photos = self.services.photos
        if message.photo is not None and photos is not None:
            sent = await photos.reply(self.bot, chat.id, message.photo, message.reply_markup)
            if sent is not None:
                return sent
        return await self.bot.send_message(
            chat.id,
            message.text,
            parse_mode=ParseMode.HTML,
            reply_markup=message.reply_markup,
            disable_web_page_preview=True,
        )
