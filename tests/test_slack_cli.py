"""`saferbot run` as an admin starts it: Slack and Telegram tokens in the environment, one process.

The real command in a subprocess, against the fake Slack (Socket Mode) and the fake
Telegram Bot API on 127.0.0.1: a codeword typed on Telegram reaches the duty manager on
Slack, whose press is acked and updates the card; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import yaml

from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.proc import any_time_service

ROOT = Path(__file__).resolve().parent.parent
BOB = "U0BOB"


async def test_saferbot_run_serves_slack_and_telegram_in_one_process(tmp_path):
    service = yaml.safe_load(any_time_service(tmp_path).read_text())  # a real process: the rota holds at any time
    service["people"]["bob"].update(slack=BOB, prefer="slack")
    service["people"]["alice"].update(telegram=1001)
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(service))
    slack, tg = FakeSlack(users={BOB}), FakeTelegram()
    await slack.start()
    await tg.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
    env |= {"SAFERBOT_DB": str(tmp_path / "saferbot.db"), "SAFERBOT_SERVICE_FILE": str(tmp_path / "service.yaml"),
            "SAFERBOT_CODEWORDS_FILE": str(ROOT / "codewords.yaml"), "SAFERBOT_SLACK_BOT_TOKEN": BOT_TOKEN,
            "SAFERBOT_SLACK_APP_TOKEN": APP_TOKEN, "SAFERBOT_SLACK_API_URL": slack.api_url,
            "SAFERBOT_TELEGRAM_TOKEN": tg.token, "SAFERBOT_TELEGRAM_API_URL": tg.url}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await slack.wait_for(lambda: slack.connected.is_set(), 10, "Socket Mode from saferbot run")
        await tg.wait_for(lambda: tg.calls_of("getUpdates"), 10)
        tg.say(tg.user(1001, "Alice"), "Is Mr Brown in today?")
        await tg.wait_for(lambda: "I'll have a look in the staff room for you." in tg.texts(1001), 10)
        await slack.wait_for(lambda: [m for m in slack.seen(BOB) if m.buttons], 10, "Bob's card")
        await slack.acked(await slack.press(BOB, "Acknowledge"))
        await slack.wait_for(lambda: "Acknowledged by Bob Green" in slack.seen(BOB)[-1].shown, 10, "the update")
        await tg.wait_for(lambda: "Mr Brown has just come in, he'll be with you in a minute." in tg.texts(1001), 10)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 10)
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
        await slack.stop()
        await tg.stop()
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log
    assert "Slack: Socket Mode connected" in log and "telegram" in log.lower()
