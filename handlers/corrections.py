"""/edit, /retract and /cancel for operators: correct, withdraw or stop an article after it went out."""

from __future__ import annotations

import secrets

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.arguments import POST_BODY_MAX, POST_TITLE_MAX, parse_id
from bot.clock import in_istanbul
from bot.context import NewsbotContext
from bot.corrections import cancel, correct, parse_edit, parse_retract, withdraw
from handlers.access import operators_only

RETRACT_CALLBACK = "retract"  # "retract:<article>:<token>" confirms, "retract:keep:<token>" keeps it
PENDING_KEY = "retractions"  # user_data: token -> (article id, reason) awaiting confirmation


@operators_only
async def edit(update: Update, context: NewsbotContext) -> None:
    """`/edit N` + headline and text: a new version, and every delivered copy edited to it."""
    message = update.effective_message
    parsed = parse_edit(message.text or "", title_max=POST_TITLE_MAX, body_max=POST_BODY_MAX)
    if parsed is None:
        await context.reply(update, "edit_usage")
        return
    result = await correct(
        context.store, parsed.article_id, parsed.title, parsed.body, context.services.clock()
    )
    if result.changed and context.services.delivery is not None:
        context.services.delivery.wake()
    await context.reply(update, "edit_done", article_id=parsed.article_id, result=result)


@operators_only
async def retract(update: Update, context: NewsbotContext) -> None:
    """`/retract N [reason]`: show the article and ask for a confirmation with a button."""
    parsed = parse_retract(list(context.args or []))
    article = await context.store.articles.get(parsed[0]) if parsed is not None else None
    if parsed is None:
        await context.reply(update, "retract_usage")
        return
    if article is None or article.withdrawn:
        await context.reply(update, "retract_done", article_id=parsed[0], result=None)
        return
    token = secrets.token_hex(4)
    pending = context.user_data.setdefault(PENDING_KEY, {})
    pending[token] = parsed
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.label("retract_confirm"), callback_data=f"{RETRACT_CALLBACK}:{article.id}:{token}"
                ),
                InlineKeyboardButton(
                    context.label("retract_keep"), callback_data=f"{RETRACT_CALLBACK}:keep:{token}"
                ),
            ]
        ]
    )
    await context.reply(
        update,
        "retract_confirm",
        article=article,
        published=in_istanbul(article.published_at),
        reason=parsed[1],
        reply_markup=markup,
    )


async def retract_pressed(update: Update, context: NewsbotContext) -> None:
    """The confirmation button: withdraw (once), or keep the article; the buttons go away either way."""
    query = update.callback_query
    if not context.is_operator(update):
        await query.answer()
        return
    _, what, token = (query.data or "").split(":", 2)
    pending = context.user_data.get(PENDING_KEY, {}).pop(token, None)
    if pending is None or (what != "keep" and str(pending[0]) != what):
        await query.answer(context.label("retract_out_of_date"), show_alert=True)
        return
    await query.answer()
    await query.edit_message_reply_markup(None)
    if what == "keep":
        return
    article_id, reason = pending
    result = await withdraw(context.store, article_id, reason, context.services.clock())
    if result.article is not None and context.services.delivery is not None:
        context.services.delivery.wake()
    await context.reply(
        update, "retract_done", article_id=article_id, result=result if result.article else None
    )


@operators_only
async def cancel_push(update: Update, context: NewsbotContext) -> None:
    """`/cancel N`: stop article N's push; what was delivered stays."""
    article_id = parse_id(context.args or [])
    if article_id is None:
        await context.reply(update, "cancel_usage")
        return
    dropped = await cancel(context.store, article_id)
    await context.reply(update, "cancel_done", article_id=article_id, dropped=dropped)


def register(application: Application) -> None:
    """Wire /edit, /retract with its confirmation button, and /cancel."""
    application.add_handler(CommandHandler("edit", edit))
    application.add_handler(CommandHandler("retract", retract))
    application.add_handler(CommandHandler("cancel", cancel_push))
    application.add_handler(CallbackQueryHandler(retract_pressed, pattern=f"^{RETRACT_CALLBACK}:"))
