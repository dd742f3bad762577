"""docs/triggers.md and docs/panic.ps1 sign as saferbot verifies: the Standard Webhooks test vector they
give is what saferbot's signing and the reference library compute, and the zero-install script signs
the same string with the same key (PowerShell itself cannot run here: its -Vector check is for the PC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from standardwebhooks import Webhook

from bot import trigger_http
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "triggers.md").read_text()
PS1 = (ROOT / "docs" / "panic.ps1").read_text()


def vector(text: str) -> tuple[str, str, str, str, str]:
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", text).group(0)
    msg_id = re.search(r"msg_[A-Za-z0-9]+", text).group(0)
    stamp = re.search(r"\b16\d{8}\b", text).group(0)
    body = re.search(r"\{\"test\": \d+\}", text).group(0)
    expected = re.search(r"v1,[A-Za-z0-9+/]+=", text).group(0)
    return secret, msg_id, stamp, body, expected


def test_the_documented_vector_is_what_saferbot_and_the_reference_compute():
    for text in (DOC, PS1):
        secret, msg_id, stamp, body, expected = vector(text)
        assert trigger_http.sign(secret, msg_id, int(stamp), body.encode()) == expected
        headers = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": expected}
        assert trigger_http.verify(secret, headers, body.encode(), float(stamp))
        wh = Webhook(secret)
        assert wh.sign(msg_id, datetime.fromtimestamp(int(stamp), tz=UTC), body) == expected


def test_the_powershell_script_signs_the_standard_string_with_the_secrets_key():
    assert '"$Id.$Timestamp.$Body"' in PS1  # "<id>.<timestamp>.<body>"
    assert "FromBase64String($Secret.Replace(\"whsec_\", \"\"))" in PS1
    assert "HMACSHA256" in PS1 and '"v1," + [Convert]::ToBase64String' in PS1
    assert '"webhook-id" = $id' in PS1 and "ToUnixTimeSeconds()" in PS1
    assert "-eq 202" in PS1  # retried until stored, with the same $id
