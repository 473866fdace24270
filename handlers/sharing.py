"""Deep links and invitations: a friend lands on the shared article, subscribes, the sharer is credited."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import NewsbotContext
from bot.sharing import ShareLink, deep_link, parse_share_link, share_url
from bot.views import FULL_TEXT_LIMIT, render_article, with_buttons, without_button
from handlers.access import chat_admins_only
from handlers.prelude import PRELUDE_GROUP

log = logging.getLogger(__name__)

SUBSCRIBE_CALLBACK = "share:subscribe"
REFERRAL_GROUP = PRELUDE_GROUP - 1  # before the prelude records the friend, so we can tell a new reader


async def credit_referrer(update: Update, context: NewsbotContext) -> None:
    """A reader the bot has never seen opened someone's link: remember who brought them (once)."""
    link = parse_share_link(context.args or [])
    user = update.effective_user
    if link is None or link.invite_code is None or user is None:
        return
    if await context.store.referrals.record_new_reader(user.id, link.invite_code, link.article_id):
        log.info("a new reader joined through an invite link (article %s)", link.article_id)


async def show_shared_article(update: Update, context: NewsbotContext, link: ShareLink) -> bool:
    """`/start a12...`: show the article with a Subscribe button; False if there is no such article."""
    if link.article_id is None:
        return False
    article = await context.store.articles.get(link.article_id)
    if article is None:
        return False
    if article.withdrawn:
        await context.reply(update, "article_withdrawn")
        return True
    message = render_article(context.renderer, context.lang, article, teaser_limit=FULL_TEXT_LIMIT)
    await context.send(update, with_buttons(message, await subscribe_markup(update, context)))
    return True


async def subscribe_markup(update: Update, context: NewsbotContext) -> InlineKeyboardMarkup | None:
    """A Subscribe button for a chat that is not an active subscriber yet."""
    chat = update.effective_chat
    record = await context.store.chats.get(chat.id) if chat is not None else None
    if record is not None and record.active:
        return None
    button = InlineKeyboardButton(context.label("subscribe"), callback_data=SUBSCRIBE_CALLBACK)
    return InlineKeyboardMarkup([[button]])


@chat_admins_only
async def subscribe_pressed(update: Update, context: NewsbotContext) -> None:
    """The Subscribe button: subscribe, answer the button, drop it from the message and confirm."""
    query = update.callback_query
    chat = update.effective_chat
    if chat is None:
        await query.answer()
        return
    change = await context.store.chats.subscribe(chat.id)
    await query.answer()
    markup = query.message.reply_markup if query.message is not None else None
    if markup is not None:
        try:
            await query.edit_message_reply_markup(without_button(markup, SUBSCRIBE_CALLBACK))
        except BadRequest as error:  # the message is gone or too old to edit: the reply below says it all
            log.info("could not remove the Subscribe button: %s", error)
    await context.reply(update, "subscription", subscribed=True, changed=change.changed)


async def invite(update: Update, context: NewsbotContext) -> None:
    """The reader's personal invite link and how many friends came through their links."""
    user = update.effective_user
    code = await context.store.referrals.code_for(user.id)
    counts = await context.store.referrals.counts_for(user.id)
    link = deep_link(context.bot.username, ShareLink(invite_code=code))
    send = InlineKeyboardButton(
        context.label("invite_send"), url=share_url(link, context.label("invite_share_text"))
    )
    await context.reply(
        update, "invite", link=link, counts=counts, reply_markup=InlineKeyboardMarkup([[send]])
    )


def register(application: Application) -> None:
    """Wire /invite, the Subscribe button and the referral check that must run before the prelude."""
    application.add_handler(
        CommandHandler("start", credit_referrer, filters=filters.ChatType.PRIVATE, has_args=True),
        group=REFERRAL_GROUP,
    )
    application.add_handler(CommandHandler("invite", invite))
    application.add_handler(CallbackQueryHandler(subscribe_pressed, pattern=f"^{SUBSCRIBE_CALLBACK}$"))
