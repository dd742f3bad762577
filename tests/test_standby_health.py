"""Process level, PostgreSQL: a load balancer asks /healthz which instance is active.

Two `saferbot run` processes on one database, each with its own health port (as on two
machines). The active one answers 200 {"active": true}; the standby 503 {"status":
"standby"}; neither names an instance, a host or an error. After a kill -9 the standby takes over and answers 200.
"""

from __future__ import annotations

import time

from tests.proc import Bot, bot_env
from tests.test_faults_process import healthz, started
from tests.test_intake_confirmed import free_port


def answers(port: int, timeout: float = 15.0) -> tuple[int, dict]:
    end = time.monotonic() + timeout
    while True:
        try:
            return healthz(port)
        except OSError:  # not listening yet
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def test_healthz_tells_a_load_balancer_which_instance_is_active(tmp_path, schema):
    ports = free_port(), free_port()
    a = Bot(bot_env(tmp_path, SAFERBOT_DB=schema.url, SAFERBOT_LEASE_TTL="1", SAFERBOT_HEALTH_PORT=str(ports[0])),
            tmp_path)
    b = None
    try:
        started(a)
        b = Bot(bot_env(tmp_path, SAFERBOT_DB=schema.url, SAFERBOT_LEASE_TTL="1",
                        SAFERBOT_HEALTH_PORT=str(ports[1])), tmp_path)
        b.wait_for(lambda _: any("waits as a standby" in line for line in b.err), 20, "the second waiting")
        status, body = answers(ports[0])
        assert status == 200 and body["active"] is True and body["status"] == "ok"
        status, body = answers(ports[1])
        assert status == 503 and body["status"] == "standby" and body["active"] is False
        assert body == {"status": "standby", "active": False}  # no names: `saferbot status` names the active one

        a.kill9()
        b.wait_for(lambda s: "Type as a person" in s, 15, "the standby taking over")  # its console starts
        status, body = answers(ports[1])
        assert status == 200 and body["active"] is True, body
    finally:
        a.kill9()
        if b:
            b.kill9()
