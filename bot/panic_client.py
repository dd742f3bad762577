"""saferbot-panic: the desktop panic client (a global hotkey and a tray light), docs/triggers.md.

    pip install 'saferbot[panic]'
    saferbot-panic --url https://saferbot.example.org/trigger/central-front-counter --secret-file panic.secret

Ctrl+Shift+P (or the tray menu's "Raise the alarm") sends a signed press. The press is kept
and sent again, with the same webhook id, until the bot answers that it stored it (202): a
network blip or a bot restart never loses it, and the bot raises it once. Every minute a
signed heartbeat proves the client is alive (the bot tells the admins when it goes silent)
and brings back the state, which is the colour of the tray light:

  ready (green), raised (amber), acknowledged (blue: help is coming),
  no responder on duty (grey), no connection (red), refused (red: check the secret)

There is deliberately no way to cancel: only the raiser in chat or a duty manager stands an
alarm down. The logic here uses only the standard library, so it is tested without a
display; pynput and pystray are imported only by `main()`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BEAT_EVERY = 60.0  # seconds between heartbeats
RETRY_EVERY = 2.0  # seconds between tries of a press the bot has not stored yet
POLL_EVERY = 5.0  # seconds between state looks while an alarm is live
COLOURS = {"ready": "#2e7d32", "raised": "#f9a825", "acknowledged": "#1565c0", "no responder on duty": "#9e9e9e",
           "no connection": "#c62828", "refused": "#c62828", "unknown": "#9e9e9e"}

Send = Callable[[str, str, bytes, dict[str, str]], tuple[int, bytes]]  # (method, url, body, headers) -> (status, body)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (whsec_ + base64)."""
    raw = secret.removeprefix("whsec_")
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: v1, base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"."""
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed(secret: str, msg_id: str, body: bytes, now: float) -> dict[str, str]:
    stamp = int(now)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": sign(secret, msg_id, stamp, body),
            "content-type": "application/json"}


def http_send(method: str, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body if method == "POST" else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 (the admin's own URL)
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


@dataclass
class Client:
    url: str  # .../trigger/<device>
    secret: str
    send: Send = http_send
    now: Callable[[], float] = time.time
    state: str = "no connection"
    by: str = ""  # who acknowledged, when known
    pending: list[str] = field(default_factory=list)  # webhook ids of presses not yet stored
    on_change: Callable[[str], None] = lambda state: None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def press(self) -> None:
        """The hotkey: a new press, sent now and again until stored."""
        with self._lock:
            self.pending.append(f"msg_{uuid.uuid4().hex}")
        self.flush()

    def flush(self) -> bool:
        """Send every press not yet stored (same webhook id, fresh signature); True when none are left."""
        with self._lock:
            waiting = list(self.pending)
        for msg_id in waiting:
            status, _ = self._call("POST", self.url, msg_id)
            if status == 202:
                with self._lock:
                    self.pending.remove(msg_id)
                self._set("raised" if self.state in ("ready", "no connection", "no responder on duty") else self.state)
            elif status == 401:
                self._set("refused")
        return not self.pending

    def beat(self) -> None:
        """A heartbeat; its answer is the state."""
        self._take(*self._call("POST", self.url + "/heartbeat"))

    def poll(self) -> None:
        self._take(*self._call("GET", self.url + "/state"))

    def _call(self, method: str, url: str, msg_id: str | None = None) -> tuple[int, bytes]:
        body = b"{}" if method == "POST" else b""
        headers = signed(self.secret, msg_id or f"msg_{uuid.uuid4().hex}", body, self.now())
        try:
            return self.send(method, url, body, headers)
        except (OSError, ValueError):  # no network, DNS, refused, timeout
            self._set("no connection")
            return 0, b""

    def _take(self, status: int, body: bytes) -> None:
        if status == 401:
            self._set("refused")
            return
        if status != 200:
            if status:
                self._set("no connection")
            return
        try:
            answer = json.loads(body)
        except ValueError:
            self._set("no connection")
            return
        self.by = answer.get("by", "")
        self._set(answer.get("state", "unknown"))

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_change(state)

    def label(self) -> str:
        if self.pending:
            return "Sending your alarm... (keeps trying)"
        if self.state == "acknowledged":
            return f"Help is coming: {self.by} acknowledged" if self.by else "Help is coming"
        return {"ready": "Ready", "raised": "Alarm raised: waiting for someone to acknowledge",
                "no responder on duty": "No responder on duty: phone for help", "no connection": "NO CONNECTION",
                "refused": "Refused: check the secret"}.get(self.state, self.state)

    def run(self, stop: threading.Event) -> None:
        """The loop: unsent presses every RETRY_EVERY, a heartbeat every BEAT_EVERY, state while live."""
        next_beat = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if self.pending:
                self.flush()
            if now >= next_beat:
                self.beat()
                next_beat = now + BEAT_EVERY
            elif self.state in ("raised", "acknowledged"):
                self.poll()
            stop.wait(RETRY_EVERY if self.pending else POLL_EVERY if self.state in ("raised", "acknowledged")
                      else min(POLL_EVERY, max(0.1, next_beat - time.monotonic())))


def once(client: Client, what: str, give_up_after: float = 300.0) -> int:
    """--press / --beat for scripts (Home Assistant shell_command, cron): no display, no extra needed.
    A press is tried until stored or `give_up_after` seconds; exit 0 only when the bot stored it."""
    if what == "beat":
        client.beat()
        print(client.label())
        return 0 if client.state not in ("no connection", "refused") else 1
    client.press()
    end = time.monotonic() + give_up_after
    while client.pending and client.state != "refused" and time.monotonic() < end:
        time.sleep(RETRY_EVERY)
        client.flush()
    print("stored: the alarm is raised" if not client.pending else f"NOT stored ({client.state}): phone for help")
    return 0 if not client.pending else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="saferbot-panic", description="The desktop panic button for saferbot.")
    p.add_argument("--url", required=True, help="https://<your saferbot>/trigger/<device>")
    p.add_argument("--secret-file", required=True, type=Path, help="a file holding the device's whsec_ secret")
    p.add_argument("--hotkey", default="<ctrl>+<shift>+p", help="pynput syntax (default <ctrl>+<shift>+p)")
    p.add_argument("--press", action="store_true", help="send one press (retried until stored) and exit")
    p.add_argument("--beat", action="store_true", help="send one heartbeat, print the state and exit")
    args = p.parse_args(argv)
    if args.press or args.beat:
        return once(Client(args.url.rstrip("/"), args.secret_file.read_text().strip()), "press" if args.press else "beat")
    return _tray(args)  # pragma: no cover - needs a display (docs/triggers.md, manual checks)


def _tray(args: argparse.Namespace) -> int:  # pragma: no cover
    try:
        import pystray
        from PIL import Image
        from pynput import keyboard
    except ImportError:
        print("saferbot-panic needs its extra: pip install 'saferbot[panic]'")
        return 2
    client = Client(args.url.rstrip("/"), args.secret_file.read_text().strip())

    def image(state: str):
        return Image.new("RGB", (64, 64), COLOURS.get(state, COLOURS["unknown"]))

    icon = pystray.Icon("saferbot-panic", image(client.state), "saferbot: " + client.label(),
                        menu=pystray.Menu(pystray.MenuItem("Raise the alarm", lambda: client.press()),
                                          pystray.MenuItem(lambda _item: client.label(), None, enabled=False)))

    def changed(state: str) -> None:
        icon.icon, icon.title = image(state), "saferbot: " + client.label()

    client.on_change = changed
    stop = threading.Event()
    threading.Thread(target=client.run, args=(stop,), daemon=True).start()
    hotkeys = keyboard.GlobalHotKeys({args.hotkey: lambda: threading.Thread(target=client.press, daemon=True).start()})
    hotkeys.start()
    try:
        icon.run()  # until the tray icon is closed from the system; there is no "cancel alarm"
    finally:
        stop.set()
        hotkeys.stop()
    return 0
