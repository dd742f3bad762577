"""Codeword matching as staff type on phones."""

import pytest

from bot.matching import PhraseMatcher

M = PhraseMatcher({"brown": ("Is Mr Brown in today?",), "red": ("Where is the red folder",)})


@pytest.mark.parametrize("text", [
    "Is Mr Brown in today?", "is mr brown in today", "IS MR BROWN IN TODAY!!!", "  is  mr.  brown in   today ",
    "hi, is Mr Brown in today? thanks", "Hello - is Mr Brown in today", "is mr brown in today 🙂",
])
def test_matches_what_a_person_would_type(text):
    assert M.match(text) == "brown"


@pytest.mark.parametrize("text", [
    "Mr Brown", "is mr browne in today", "brown bread today", "is mr brown", "today", "",
    "is mr brownin today",
])
def test_does_not_match_a_message_that_merely_shares_words(text):
    assert M.match(text) is None


def test_accents_and_curly_apostrophes_are_folded():
    m = PhraseMatcher({"k": ("Where's the café key",)})
    assert m.match("where’s the cafe key?") == "k"
