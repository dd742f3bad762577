"""`saferbot doctor`: check what a running bot depends on and say in plain words what to fix.

Each check prints OK, NOTE (worth knowing, nothing broken) or FIX (something to do, with how).
The exit code is 1 when anything needs fixing, so a deployment script or monitoring can use it.
"""

from __future__ import annotations

import email.utils
import json
import shutil
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .settings import Settings

LOW_DISK = 200 * 1024 * 1024  # below this the store may soon refuse writes: nothing may be lost
DRIFT = 30.0  # seconds: timers and "Raised: 14:32" on cards depend on the clock


class Report:
    def __init__(self) -> None:
        self.problems = 0
        self.drift: float | None = None

    def ok(self, what: str) -> None:
        print(f"OK    {what}")

    def note(self, what: str, fix: str = "") -> None:
        print(f"NOTE  {what}" + (f"\n      {fix}" if fix else ""))

    def fix(self, what: str, fix: str) -> None:
        self.problems += 1
        print(f"FIX   {what}\n      fix: {fix}")

    def server_time(self, headers) -> None:
        """Compare our clock with the Date header of a platform's answer (1 s resolution)."""
        try:
            when = email.utils.parsedate_to_datetime(headers.get("Date", "")).timestamp()
        except (TypeError, ValueError):
            return
        self.drift = time.time() - when


def _fetch(url: str, report: Report, *, token: str | None = None, data: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            report.server_time(r.headers)
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        report.server_time(e.headers)
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}


def check_config(s: Settings, r: Report):
    from .book import ConfigError, load_all, resolve_service_path

    try:
        book, service = load_all(s.codewords_file, s.service_file)
    except ConfigError as e:
        for p in e.problems:
            r.fix(f"{p.file}:{p.line}: {p.what}", p.fix)
        return None
    from .settings import ladder_problems, settings_failed

    if ladder_problems(s, book):
        settings_failed(ladder_problems(s, book))  # a setting that cannot work: exit 2, as check-config and run
    path = resolve_service_path(s.service_file)
    r.ok(f"config: {s.codewords_file} ({len(book.codewords)} codewords), {path} ({len(service.people)} people)")
    if path.name == "service.example.yaml":
        r.note("config: the example roster is in use (made-up people)",
               "copy config/service.example.yaml to config/service.yaml and put your branches, people and rota in it")
    return service


def check_store(s: Settings, r: Report) -> None:
    from .storecheck import check_database, running

    if s.on_postgres:
        check_postgres(s, r)
        check_files(s, r)
        return
    db = Path(s.db).resolve()
    folder = db.parent
    if not folder.is_dir():
        r.fix(f"store: the folder {folder} does not exist", f"create it for the bot's user: mkdir -p {folder}")
        return
    probe = folder / f".saferbot-doctor-{time.time_ns()}"
    try:
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        r.fix(f"store: cannot write in {folder} ({e.strerror})",
              f"give the bot's user write access: chown saferbot {folder} (the lock and WAL files live there too)")
    if db.exists():
        problem = check_database(db)
        if problem:
            r.fix(f"store: {db}: {problem}", "stop the bot and `saferbot restore <your latest backup>`; "
                  "keep the damaged file for investigation")
        else:
            r.ok(f"store: {db} integrity ok, {db.stat().st_size // 1024} KB")
    else:
        r.note(f"store: {db} does not exist yet", "it is created when the bot first starts")
    holder = running(db)
    if holder:
        r.ok(f"store: saferbot is running ({holder})")
    free = shutil.disk_usage(folder).free
    if free < LOW_DISK:
        r.fix(f"disk: only {free // (1024 * 1024)} MB free at {folder}",
              "free some space or move the database (SAFERBOT_DB) to a bigger disk")
    else:
        r.ok(f"disk: {free // (1024 * 1024)} MB free at {folder}")
    check_files(s, r)


def check_files(s: Settings, r: Report) -> None:
    """Whether the bot could create and write the files folder; doctor itself creates nothing."""
    import os

    from .files import files_path

    where = files_path(s).absolute()
    parent = next((p for p in (where, *where.parents) if p.exists()), Path("/"))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        r.fix(f"files: cannot use the files folder {where} ({parent} is not a folder this user may write in)",
              "set SAFERBOT_FILES_DIR to a folder the bot's user owns")
    elif parent == where:
        r.ok(f"files: charts and exports go to {where} (private)")
    else:
        r.ok(f"files: charts and exports will go to {where} (created, private, when first needed)")


def check_postgres(s: Settings, r: Report) -> None:
    """PostgreSQL: reach it, migrate it, prove the user may write (rolled back), and name the lease holder."""
    from .store import StoreError, connect, pg
    from .store.migrations import newer as newer_than_us
    from .storecheck import lease_line, unvacuumed, why, write_probe

    try:
        conn = connect(s.db)  # also brings the schema up to date, as `saferbot run` would
    except StoreError as e:
        r.fix(f"store: cannot use PostgreSQL at {s.db_shown} ({why(e, s.db)})",
              "check SAFERBOT_DB (host, port, database, user, password), that the server is running and accepts "
              "this machine (listen_addresses, pg_hba.conf), and that the user may create tables in the database "
              "or schema (GRANT CREATE ON SCHEMA ... TO the user)")
        return
    assert isinstance(conn, pg.Connection)
    try:
        version = conn.raw("SHOW server_version").fetchone()[0].split()[0]
        parts = dict(conn.execute("SELECT component, version FROM schema_version").fetchall())
        newer = newer_than_us(list(parts.items()))
        if newer:
            r.fix(f"store: the schema was written by a newer saferbot (parts: {', '.join(newer)})",
                  "upgrade saferbot on this machine to the version the other instance runs")
        else:
            r.ok(f"store: PostgreSQL {version} at {s.db_shown}, schema up to date ({len(parts)} parts)")
        try:
            write_probe(conn)
            r.ok("store: the user can write (a test row, rolled back)")
        except StoreError as e:
            r.fix(f"store: the user cannot write ({why(e, s.db)})",
                  "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA <schema> TO <user>, and USAGE on "
                  "its sequences; or connect as the user that owns the database")
        vacuum = unvacuumed(conn)
        if vacuum:
            r.fix(f"store: {vacuum}: the rows each message leaves behind are never reclaimed, and alerts slow down as "
                  "the tables grow", "set autovacuum = on (and track_counts = on) in postgresql.conf and reload "
                  "(ALTER TABLE <table> RESET (autovacuum_enabled) for a table); if it is off on purpose, run "
                  "VACUUM (ANALYZE) on saferbot's schema at least daily")
        else:
            r.ok("store: autovacuum reclaims the rows sent messages leave behind")
        active, text = lease_line(conn)
        if active:
            r.ok(f"store: saferbot is running ({text})")
        else:
            r.note(f"store: {text}")
    except StoreError as e:
        r.fix(f"store: PostgreSQL at {s.db_shown} failed a check ({why(e, s.db)})",
              "check the server's log; run `saferbot doctor` again once it answers")
    finally:
        conn.close()


def check_telegram(s: Settings, r: Report) -> None:
    token = s.telegram_token.get_secret_value() if s.telegram_token else ""
    url = f"{s.telegram_api_url.rstrip('/')}/bot{token}/getMe"
    try:
        status, body = _fetch(url, r)
    except (urllib.error.URLError, OSError) as e:
        r.fix(f"Telegram: cannot reach {s.telegram_api_url} ({getattr(e, 'reason', e)})",
              "allow outgoing HTTPS to api.telegram.org (proxy, firewall), or check SAFERBOT_TELEGRAM_API_URL")
        return
    if status == 401 or body.get("error_code") == 401:
        r.fix("Telegram refused the token (401 Unauthorized)",
              "copy the token again from @BotFather (/mybots -> your bot -> API Token) into SAFERBOT_TELEGRAM_TOKEN")
    elif body.get("ok"):
        r.ok(f"Telegram: token works, the bot is @{body['result'].get('username')}")
        if s.telegram_webhook_url and not s.telegram_webhook_secret:
            r.fix("Telegram: a webhook URL without a secret (the bot long-polls instead)",
                  "set SAFERBOT_TELEGRAM_WEBHOOK_SECRET to a long random string (openssl rand -hex 32)")
    else:
        r.fix(f"Telegram: unexpected answer {status} {body.get('description', '')}",
              "check SAFERBOT_TELEGRAM_API_URL and try again later")


def check_slack(s: Settings, r: Report) -> None:
    base = s.slack_api_url.rstrip("/") + "/"
    token = s.slack_bot_token.get_secret_value() if s.slack_bot_token else ""
    try:
        status, body = _fetch(base + "auth.test", r, token=token, data=b"")
    except (urllib.error.URLError, OSError) as e:
        r.fix(f"Slack: cannot reach {s.slack_api_url} ({getattr(e, 'reason', e)})",
              "allow outgoing HTTPS to slack.com and wss-primary.slack.com (proxy, firewall)")
        return
    if not body.get("ok"):
        r.fix(f"Slack refused the bot token ({body.get('error', status)})",
              "copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page into "
              "SAFERBOT_SLACK_BOT_TOKEN; reinstall the app if it was removed")
        return
    r.ok(f"Slack: bot token works, workspace {body.get('team')}")
    if s.slack_app_token:
        _, body = _fetch(base + "apps.connections.open", r, token=s.slack_app_token.get_secret_value(), data=b"")
        if body.get("ok"):
            r.ok("Slack: app-level token works (Socket Mode)")
        else:
            r.fix(f"Slack refused the app-level token ({body.get('error')})",
                  "Basic Information -> App-Level Tokens: generate one with connections:write, put it in "
                  "SAFERBOT_SLACK_APP_TOKEN, and check Socket Mode is on")
    elif s.slack_signing_secret:
        r.ok(f"Slack: HTTP mode on {s.host_for(s.slack_http_listen)}:{s.slack_http_port} (/slack/events)")
    else:
        r.fix("Slack: neither an app-level token nor a signing secret is set",
              "set SAFERBOT_SLACK_APP_TOKEN (Socket Mode, simplest) or SAFERBOT_SLACK_SIGNING_SECRET (HTTP mode)")


def check_clock(service, r: Report) -> None:
    tz_name = service.timezone if service else "Europe/London"
    try:
        now = datetime.now(ZoneInfo(tz_name))
        r.ok(f"clock: {now:%Y-%m-%d %H:%M} {tz_name} ({now:%Z}); times are stored in UTC")
    except Exception:
        r.fix(f"clock: unknown timezone {tz_name}", "use a name like Europe/London in the service file")
    if r.drift is None:
        r.note("clock: drift unknown (no platform answered)", "keep NTP on: timedatectl set-ntp true")
    elif abs(r.drift) > DRIFT:
        r.fix(f"clock: this machine is {r.drift:+.0f} s off the platforms' time",
              "turn on time sync (timedatectl set-ntp true, or chrony): timers and alert times depend on it")
    else:
        r.ok(f"clock: within {max(1, round(abs(r.drift)))} s of the platforms' time")


def check_triggers(s: Settings, r: Report) -> None:
    """Panic buttons need the HTTP port; silent ones are said (handlers/trigger.py)."""
    from handlers.trigger import registered

    found = registered(s)
    if not found:
        return
    if not s.health_port:
        r.fix(f"panic buttons: {len(found)} registered, but SAFERBOT_HEALTH_PORT is not set: no press can arrive",
              "set SAFERBOT_HEALTH_PORT (the /healthz port, behind your reverse proxy) and restart saferbot")
    for d in found:
        if d.silent_since is not None:
            r.fix(f"panic button {d.id} ({d.name}) is silent: no heartbeat while its branch is open",
                  "check the PC or device is on and online; the admins were told, and will be told when it is back")
    if s.health_port and all(d.silent_since is None for d in found):
        r.ok(f"panic buttons: {len(found)} active, none silent")


def check_phones(s: Settings, r: Report) -> None:
    """A ladder with texts or calls, and people it cannot reach (docs/phone.md)."""
    from .storecheck import phone_unverified

    try:
        missing = phone_unverified(s)
    except Exception as e:  # the store checks above say what is wrong with the store
        r.note(f"phone: could not read the contact methods ({type(e).__name__})")
        return
    if missing:
        r.note(f"phone: {missing}", "each of them sends phone verify in chat and types back the texted code")


def run_checks(s: Settings) -> int:
    r = Report()
    service = check_config(s, r)
    check_store(s, r)
    check_triggers(s, r)
    if not (s.telegram_token or s.slack_bot_token):
        r.note("no Telegram or Slack token: the bot runs on the console only",
               "set SAFERBOT_TELEGRAM_TOKEN and/or SAFERBOT_SLACK_BOT_TOKEN (docs/telegram.md, docs/slack.md)")
    if s.telegram_token:
        check_telegram(s, r)
    if s.slack_bot_token:
        check_slack(s, r)
    check_clock(service, r)
    check_phones(s, r)
    print("\nAll good." if not r.problems else f"\n{r.problems} thing(s) to fix.")
    return 1 if r.problems else 0
