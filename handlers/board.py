"""`board`: a one-time link that signs a duty manager or admin in to the board (bot/board/)."""

from __future__ import annotations

from bot.board import auth
from bot.messages import Inbound, Outbound
from bot.model import Person
from bot.registry import command
from bot.unit import Tx

OFF = ("The board is not switched on here. An admin can turn it on: SAFERBOT_BOARD=true, SAFERBOT_BOARD_URL and "
       "SAFERBOT_HEALTH_PORT (docs/board.md).")


@command("board", permission=auth.PERMISSION, help="a link that opens the live duty board in your browser")
def board(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    s = tx.ctx.settings
    if not s.board or not s.board_url:
        tx.reply(msg, Outbound(OFF), person=person)
        return
    token = auth.create_link(tx.conn, person, tx.now)
    text = (f"Your board link (it works once, for {auth.LINK_VALID // 60} minutes; do not forward it):\n"
            f"{s.board_url.rstrip('/')}/board/login?t={token}")
    if msg.is_group:  # never in a channel: the link signs in whoever opens it first
        if tx.send(person, Outbound(text), tag=auth.TAG):
            tx.reply(msg, Outbound("I have sent you the board link in a private message."), person=person)
        return
    tx.reply(msg, Outbound(text), person=person, tag=auth.TAG)
