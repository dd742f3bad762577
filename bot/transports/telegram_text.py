"""Text as Telegram shows it: plain text escaped to Telegram HTML, split to fit one message, and a long card
as several messages that each tell its latest state. No I/O: the transport (telegram.py) sends what this shapes."""

from __future__ import annotations

import html

MAX_TEXT = 4096  # characters in one message
MAX_CAPTION = 1024


def escape(text: str) -> str:
    """Plain text -> Telegram HTML that shows exactly that text."""
    return html.escape(text, quote=False)


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split plain text so each piece's escaped form fits one message, at a line end where possible."""
    if len(escape(text)) <= limit:
        return [text]
    out: list[str] = []
    cur, size = "", 0
    for ch in text:
        n = len(escape(ch))
        if size + n > limit:
            cut = cur.rfind("\n")
            out.append(cur[:cut] if cut > 0 else cur)
            cur = cur[cut + 1:] if cut > 0 else ""
            size = len(escape(cur))
        cur += ch
        size += n
    out.append(cur)
    return out


PART_NOTE = "\n(part {i} of {n}, continued below. Latest: {latest})"
EMPTY_PART = "(part {i} of {n}: the card is shorter now and continues below. Latest: {latest})"


def parts(text: str, slots: int | None = None) -> list[str]:
    """A long text as several messages. Each part but the last ends with the text's latest line
    (a card's current state), so no part tells an old story after an update. With `slots`
    (the messages there already are) the result has exactly that many parts."""
    if len(escape(text)) <= MAX_TEXT and not slots:
        return [text]
    latest = text.rstrip().rsplit("\n", 1)[-1][:200]
    reserve = len(escape(PART_NOTE.format(i=99, n=99, latest=latest)))
    pieces = chunks(text, MAX_TEXT - reserve) if len(escape(text)) > MAX_TEXT else [text]
    if slots and len(pieces) > slots:  # more text than messages: keep the start and the end, say so
        tail = "[... shortened: too long to show here ...]\n" + pieces[-1]
        while len(escape(tail)) > MAX_TEXT - reserve:
            tail = tail[:44] + tail[44 + len(escape(tail)) - (MAX_TEXT - reserve):]
        pieces = pieces[:slots - 1] + [tail]
    n = slots or len(pieces)
    head, last = pieces[:-1], pieces[-1]
    out = [p + PART_NOTE.format(i=i + 1, n=n, latest=latest) for i, p in enumerate(head)]
    out += [EMPTY_PART.format(i=i + 1, n=n, latest=latest) for i in range(len(head), n - 1)]
    return out + [last]

