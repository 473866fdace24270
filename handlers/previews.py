"""The Publish and Cancel buttons under an operator's preview of /post or /edit (bot/news/previews.py)."""

from __future__ import annotations

import contextlib

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot.context import NewsbotContext
from bot.news.previews import POST, Preview, cancel_draft, publish_draft
from bot.news.sections import section_name
from bot.views import with_buttons
from handlers.editing import edit_buttons

DRAFT_CALLBACK = "draft"  # "draft:publish:<token>" publishes the draft, "draft:cancel:<token>" drops it
PUBLISH, CANCEL = "publish", "cancel"


async def show_preview(update: Update, context: NewsbotContext, preview: Preview) -> None:
    """The message exactly as readers will get it, with a row of Publish and Cancel under its buttons."""
    token = preview.draft.token
    publish = "draft_publish" if preview.draft.kind == POST else "draft_publish_edit"

    def button(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(context.label(label), callback_data=f"{DRAFT_CALLBACK}:{action}:{token}")

    row = InlineKeyboardMarkup([[button(publish, PUBLISH), button("draft_cancel", CANCEL)]])
    await context.send(update, with_buttons(preview.message, row))


async def draft_pressed(update: Update, context: NewsbotContext) -> None:
    """Publish (exactly once) or Cancel; an expired or used draft gets a short alert; the buttons go away."""
    query = update.callback_query
    chat = update.effective_chat
    if not context.is_operator(update) or chat is None:
        await query.answer()
        return
    action, _, token = (query.data or "").partition(":")[2].partition(":")
    now = context.services.clock()
    if action == PUBLISH:
        pressed = await publish_draft(context.store, token, chat.id, now)
    elif action == CANCEL:
        pressed = await cancel_draft(context.store, token, chat.id, now)
    else:  # not a button this bot made
        await query.answer(context.label("draft_expired"), show_alert=True)
        return
    if pressed.refused is not None:
        await query.answer(context.label(f"draft_{pressed.refused}"), show_alert=True)
        await _drop_buttons(query)  # a preview that can no longer publish offers nothing to press
        return
    await query.answer()
    await _drop_buttons(query)
    if action != PUBLISH:
        await context.reply(update, "post_cancelled", kind=pressed.kind)
        return
    if context.services.delivery is not None:
        context.services.delivery.wake()
    if pressed.post is not None:
        article = pressed.post.article
        await context.reply(
            update,
            "post_published",
            article=article,
            created=pressed.post.created,
            language=article.language or context.settings.default_language,
            section=section_name(pressed.section) if pressed.section else "",
        )
    elif pressed.correction is not None:
        await context.reply(update, "edit_done", article_id=pressed.article_id, result=pressed.correction)


async def _drop_buttons(query: CallbackQuery) -> None:
    """Remove the preview's buttons; a preview the operator deleted meanwhile still gets its confirmation."""
    with contextlib.suppress(BadRequest):
        await edit_buttons(query, None)


def register(application: Application) -> None:
    """Wire the preview's buttons."""
    application.add_handler(CallbackQueryHandler(draft_pressed, pattern=f"^{DRAFT_CALLBACK}:"))
