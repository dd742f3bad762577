"""One way to read what people type: one normaliser, the everyday phrases, near misses.

People type on phones, tired and in a hurry, with keyboards that add capitals and full
stops. Everything the bot reads from a message - codeword phrases, command words,
"I'm safe" - goes through `normalise`, so `Safe.`, `safe` and `SAFE!!` are one phrase,
`I'm`, `I’m` and `im` are one word, and `off-shift` reads as `off shift`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "`": "'", "\u00b4": "'"})
# contractions with an apostrophe, expanded before apostrophes go ("can't" first: not "ca not")
_APOSTROPHE_FORMS = (("can't", "can not"), ("won't", "will not"), ("n't", " not"), ("'m", " am"),
                     ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'d", " would"))
# the same contractions typed without the apostrophe (phone keyboards drop it)
_BARE_FORMS = {"im": "i am", "ive": "i have", "dont": "do not", "cant": "can not", "cannot": "can not",
               "youre": "you are", "isnt": "is not", "okay": "ok", "okey": "ok"}
_NON_WORD = re.compile(r"[^a-z0-9]+")
_ASCII_NUMBER = re.compile(r"[0-9]{1,15}")


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation or emoji, contractions spelled out, single spaces."""
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    for short, long in _APOSTROPHE_FORMS:
        text = text.replace(short, long)
    text = text.replace("'", "")
    return " ".join(_BARE_FORMS.get(w, w) for w in _NON_WORD.sub(" ", text).split())


def key(word: str) -> str:
    """A command word as a lookup key: 'check-in', 'Check in' and 'checkin' are one key."""
    return "".join(normalise(word).split())


def phrases(*texts: str) -> frozenset[str]:
    """A phrase set, normalised once, for whole-message comparison with `normalise(text)`."""
    return frozenset(normalise(t) for t in texts)


def split_command(text: str, known: Iterable[str] | dict[str, object]) -> tuple[str, str]:
    """(command key, the rest as typed) from the start of a message; ('', text) when none is known.

    Two words may make one command ('stand down', 'on shift', 'all clear'); '/lone@SaferBot'
    is 'lone'; trailing full stops and exclamation marks are dropped from the rest.
    """
    tokens = text.strip().split()
    if not tokens:
        return "", ""
    tokens[0] = tokens[0].lstrip("/").split("@", 1)[0]  # "/lone@SaferBot" -> "lone"
    for n in (2, 1):
        if len(tokens) >= n and (word := key(" ".join(tokens[:n]))) and word in known:
            return word, " ".join(tokens[n:]).rstrip(" .!?,;:")
    return "", text.strip()


def first_key(text: str) -> str:
    """The first word as a key, known or not (for 'did you mean')."""
    tokens = text.strip().split()
    return key(tokens[0].lstrip("/").split("@", 1)[0]) if tokens else ""


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The one close candidate to a mistyped word ('bakcup' -> 'backup'), if there is one."""
    if len(word) < 3:
        return None
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.8)
    return found[0] if found else None


def number(text: str) -> int | None:
    """A plain ASCII whole number of sensible size ('12', '#12'), else None: never '²' or 10**20."""
    text = text.strip().lstrip("#")
    return int(text) if _ASCII_NUMBER.fullmatch(text) else None


def sane_arg(arg: str) -> bool:
    """Button data as the bot writes it: ASCII, short, no digit run longer than any id we issue."""
    return arg.isascii() and len(arg) <= 200 and not re.search(r"[0-9]{16,}", arg)


# --- the everyday phrases (whole messages, after normalise) ------------------------------------
# proof of life: answers a roll call and checks in a lone-working session
SAFE = phrases("safe", "I'm safe", "I am safe", "we're safe", "we are safe", "all safe", "I'm ok", "I am ok",
               "I'm okay", "ok", "okay", "all ok", "all good", "all fine", "check in", "checking in", "i'm safe now")
# a roll-call answer asking for help
NEED_HELP = phrases("I need help", "need help", "I need help now", "help me", "not safe", "I'm not safe",
                    "we need help")
# the requester of backup standing everyone down
STAND_DOWN = phrases("I'm fine", "I am fine", "fine", "stand down", "standdown", "stand everyone down",
                     "no longer needed", "sorted", "all sorted", "not needed")
# ending a lone-working session in everyday words
DONE = phrases("done", "all done", "I'm done", "I am done", "finished now", "finished", "finish")
# a manager ending a lockdown or evacuation
ALL_CLEAR = phrases("all clear", "allclear", "all-clear")


# --- lengths of time and times of day, as typed ------------------------------------------------------
_DUR = re.compile(r"^(?:(\d{1,30})(?:h|hr|hrs|hour|hours))?(?:(\d{1,30})(?:m|min|mins|minute|minutes))?"
                  r"(?:(\d{1,30})(?:s|sec|secs|second|seconds))?$", re.ASCII)
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?$", re.ASCII)


def take_duration(tokens: list[str]) -> tuple[int, int] | None:
    """(seconds, words used) from the start of `tokens`: 45m, 1h30m, 90s, '1 hour 30 min', 45 (minutes)."""
    tokens = [t.rstrip(".,;!") for t in tokens]
    for n in range(min(4, len(tokens)), 0, -1):
        m = _DUR.match("".join(tokens[:n]).lower())
        if m and any(m.groups()):
            h, mi, s = (int(g or 0) for g in m.groups())
            return (h * 60 + mi) * 60 + s, n
    minutes = number(tokens[0]) if tokens else None
    if minutes is not None and minutes <= 10**6:
        return minutes * 60, 1
    return None


def time_of_day(text: str, bare_hour: bool = False) -> tuple[int, int] | None:
    """(hour, minute) from '18:30', '6pm', '6.30pm' (and '17' when `bare_hour`); None if it is not a time."""
    m = _TIME.match(text.strip().lower())
    if not m or (m.group(2) is None and m.group(3) is None and not bare_hour):
        return None
    hour, minute, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def duration(seconds: float | None) -> str:
    """How long, as people say it: '20 s', '5 min', '1 h 30 min'."""
    s = int(round(seconds or 0))
    if s < 60:
        return f"{s} s"
    h, m = divmod(round(s / 60), 60)
    if not h:
        return f"{m} min"
    return f"{h} h {m} min" if m else f"{h} h"


def day_and_time(now: datetime, then: datetime) -> str:
    """A local time as people need it: '17:00' today, 'tomorrow 17:00', else 'Fri 27 Nov 17:00'."""
    days = (then.date() - now.date()).days
    hhmm = then.strftime("%H:%M")
    if days == 0:
        return hhmm
    if days == 1:
        return f"tomorrow {hhmm}"
    return then.strftime("%a %d %b ") + hhmm


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 branch', '2 branches', '0 answers'."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
