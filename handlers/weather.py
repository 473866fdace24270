"""/province, /weather, /weathertime, /weatheralerts and buttons: parse, ask the service, render, reply."""

from __future__ import annotations

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.context import NewsbotContext
from bot.readers.parsing import shown
from bot.views import RenderedMessage
from bot.weather.buttons import MAP_PREFIX, parse_map_data
from bot.weather.maps import MAP_WORDS, WeatherMaps
from bot.weather.picker import (
    PICKER_PREFIX,
    WEATHER_PREFIX,
    PickerView,
    parse_picker_data,
    parse_weather_data,
    picker_screen,
    suggestion_keyboard,
)
from bot.weather.provinces import MAX_QUERY_LENGTH, Province, by_plate, match_province, turkish_fold
from bot.weather.pushtime import parse_push_time, parse_switch
from bot.weather.service import WeatherService
from handlers.access import chat_admins_only, setting_command
from storage.models import WeatherSettings


def _weather(context: NewsbotContext) -> WeatherService:
    assert context.services.weather is not None, "the weather service is created in post_init"
    return context.services.weather


def _maps(context: NewsbotContext) -> WeatherMaps:
    assert context.services.weather_maps is not None, "the map service is created in post_init"
    return context.services.weather_maps


@chat_admins_only
async def province(update: Update, context: NewsbotContext) -> None:
    """`/province NAME` sets the home province; `/province` alone opens the picker."""
    query = " ".join(context.args or [])
    if not query:
        screen = picker_screen(context.renderer, context.lang, PickerView("regions"))
        await context.reply(update, "province_picker", reply_markup=screen.keyboard, screen=screen)
        return
    found = await _matched_or_explained(update, context, query, command="province")
    if found is not None:
        await context.send(update, RenderedMessage(await _set_province(update, context, found.plate)))


@chat_admins_only
async def picker_button(update: Update, context: NewsbotContext) -> None:
    """Move through the picker, or set the chosen province; every press is answered.

    In a group the picker belongs to its admins: a member may neither set nor page through it.
    """
    query = update.callback_query
    view = parse_picker_data(query.data)
    if view is None:
        await query.answer(context.label("button_expired"))
        return
    await query.answer()
    if view.kind == "set":
        await _edit(query, RenderedMessage(await _set_province(update, context, view.index)))
        return
    screen = picker_screen(context.renderer, context.lang, view)
    await _edit(query, RenderedMessage(context.render("province_picker", screen=screen), screen.keyboard))


async def weather(update: Update, context: NewsbotContext) -> None:
    """Today's forecast for the home province, or for `/weather NAME`; `/weather map [NAME]` the map."""
    args = context.args or []
    if args and turkish_fold(args[0]) in MAP_WORDS:
        await weather_map(update, context, " ".join(args[1:]))
        return
    query = " ".join(args)
    if not query:
        settings = await context.store.weather.settings(update.effective_chat.id)
        home = by_plate(settings.province) if settings.province is not None else None
        if home is None:
            await context.reply(update, "weather_no_province")
            return
        await context.send(update, await _weather(context).forecast_message(home, context.lang))
        return
    found = await _matched_or_explained(update, context, query, command="weather")
    if found is not None:
        await context.send(update, await _weather(context).forecast_message(found, context.lang))


async def weather_button(update: Update, context: NewsbotContext) -> None:
    """A "did you mean" button of /weather NAME: show that province's forecast in place."""
    query = update.callback_query
    chosen = parse_weather_data(query.data)
    if chosen is None:
        await query.answer(context.label("button_expired"))
        return
    await query.answer()
    await _edit(query, await _weather(context).forecast_message(chosen, context.lang))


async def weather_map(update: Update, context: NewsbotContext, query: str) -> None:
    """The map of Turkey, the home province (or the one named) outlined."""
    if query:
        found = await _matched_or_explained(update, context, query, command="weather")
        if found is None:
            return
        outlined: int | None = found.plate
    else:
        outlined = (await context.store.weather.settings(update.effective_chat.id)).province
    await _send_map(update, context, outlined)


async def map_button(update: Update, context: NewsbotContext) -> None:
    """The map button under a weather message: the map, that message's province outlined."""
    query = update.callback_query
    plate = parse_map_data(query.data)
    if plate is None:
        await query.answer(context.label("button_expired"))
        return
    await query.answer()
    await _send_map(update, context, plate)


async def _send_map(update: Update, context: NewsbotContext, outlined: int | None) -> None:
    maps = _maps(context)
    current = await maps.current()
    if current is None:
        await context.reply(update, "weather_map_unavailable")
        return
    caption = maps.caption(context.lang, current, outlined)
    await maps.send(context.bot, update.effective_chat.id, current, outlined, caption)


async def show_weathermap(update: Update, context: NewsbotContext) -> None:
    """`/weathermap on|off` chooses the map with the morning forecast; alone it shows the choice."""
    await _weathermap_status(update, context, await context.store.maps.wants_map(update.effective_chat.id))


async def change_weathermap(update: Update, context: NewsbotContext) -> None:
    """`/weathermap on` or `off`: the chat's morning forecast with or without the map."""
    choice = await _switch(update, context, "weathermap_usage")
    if choice is None:
        return
    on = await context.store.maps.set_wants_map(update.effective_chat.id, choice)
    await _weathermap_status(update, context, on, changed=True)


async def _weathermap_status(
    update: Update, context: NewsbotContext, on: bool, *, changed: bool = False
) -> None:
    settings = await context.store.weather.settings(update.effective_chat.id)
    await context.reply(update, "weathermap_status", on=on, changed=changed, **_described(settings))


async def show_weathertime(update: Update, context: NewsbotContext) -> None:
    """`/weathertime HH:MM` or `off` sets the morning push; alone it shows the setting (to anyone)."""
    settings = await context.store.weather.settings(update.effective_chat.id)
    await context.reply(update, "weathertime_status", **_described(settings))


async def change_weathertime(update: Update, context: NewsbotContext) -> None:
    """`/weathertime HH:MM` or `off`: the chat's morning push time."""
    chat_id = update.effective_chat.id
    args = context.args or []
    choice = parse_push_time(args[0]) if len(args) == 1 else None
    if choice is None:
        await context.reply(update, "weathertime_usage", given=_shown(" ".join(args)))
        return
    settings = await context.store.weather.set_weather_time(chat_id, choice.time)
    await context.reply(update, "weathertime_set", **_described(settings))


async def _matched_or_explained(
    update: Update, context: NewsbotContext, query: str, *, command: str
) -> Province | None:
    """The province the reader named; for a typo "did you mean" buttons, for nonsense a hint (then None)."""
    result = match_province(query)
    if result.province is None and result.suggestions:
        keyboard = suggestion_keyboard(result.suggestions, for_weather=command == "weather")
        await context.reply(update, "province_suggestions", reply_markup=keyboard, query=_shown(query))
    elif result.province is None:
        await context.reply(update, "province_unknown", query=_shown(query), command=command)
    return result.province


async def show_weatheralerts(update: Update, context: NewsbotContext) -> None:
    """`/weatheralerts on|off` switches severe-weather alerts; alone it shows the setting (to anyone)."""
    settings = await context.store.weather.settings(update.effective_chat.id)
    await context.reply(update, "weatheralerts_status", **_alerts_described(settings))


async def change_weatheralerts(update: Update, context: NewsbotContext) -> None:
    """`/weatheralerts on` or `off`: the chat's severe-weather alerts."""
    choice = await _switch(update, context, "weatheralerts_usage")
    if choice is None:
        return
    settings = await context.store.weather.set_alerts(update.effective_chat.id, choice)
    await context.reply(update, "weatheralerts_set", **_alerts_described(settings))


async def _switch(update: Update, context: NewsbotContext, usage: str) -> bool | None:
    """The one on/off word after the command; anything else gets the command's usage (then None)."""
    args = context.args or []
    choice = parse_switch(args[0]) if len(args) == 1 else None
    if choice is None:
        await context.reply(update, usage, given=_shown(" ".join(args)))
    return choice


def _described(settings: WeatherSettings) -> dict[str, str | None]:
    home = by_plate(settings.province) if settings.province is not None else None
    return {"province": home.name if home else None, "weather_time": settings.weather_time}


def _alerts_described(settings: WeatherSettings) -> dict[str, object]:
    home = by_plate(settings.province) if settings.province is not None else None
    return {"province": home.name if home else None, "alerts": settings.alerts}


async def _set_province(update: Update, context: NewsbotContext, plate: int) -> str:
    """Store the choice and render its confirmation by the official name."""
    settings = await context.store.weather.set_province(update.effective_chat.id, plate)
    return context.render(
        "province_set",
        province=by_plate(plate).name,
        weather_time=settings.weather_time,
        alerts=settings.alerts,
    )


async def _edit(query: CallbackQuery, message: RenderedMessage) -> None:
    """Replace the buttons' message; pressing the same button twice changes nothing and is fine."""
    try:
        await query.edit_message_text(message.text, reply_markup=message.reply_markup)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise


def _shown(query: str) -> str:
    """What the reader typed, cut as long as a province query may be (the template escapes it)."""
    return shown(query, MAX_QUERY_LENGTH)


def register(application: Application) -> None:
    """Wire the weather commands and buttons."""
    application.add_handler(CommandHandler("province", province))
    application.add_handler(CommandHandler("weather", weather))
    application.add_handler(
        CommandHandler("weathertime", setting_command(show_weathertime, change_weathertime))
    )
    application.add_handler(
        CommandHandler("weatheralerts", setting_command(show_weatheralerts, change_weatheralerts))
    )
    application.add_handler(CommandHandler("weathermap", setting_command(show_weathermap, change_weathermap)))
    application.add_handler(CallbackQueryHandler(picker_button, pattern=f"^{PICKER_PREFIX}"))
    application.add_handler(CallbackQueryHandler(weather_button, pattern=f"^{WEATHER_PREFIX}"))
    application.add_handler(CallbackQueryHandler(map_button, pattern=f"^{MAP_PREFIX}"))
