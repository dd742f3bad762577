"""The deployment files agree: the env file a service is given, read as systemd and Docker read it, keeps
the database where the unit and the image put it; the documented "run a command as the service would"
line works as typed; the open-files limit is raised everywhere."""

from __future__ import annotations

import re
import subprocess

import yaml

from bot.envfile import parse
from bot.settings import Settings, load_settings
from tests.conftest import ROOT

SERVICE_ENV = ROOT / "config" / "saferbot.env"
ADMIN = (ROOT / "docs" / "admin.md").read_text()
PG = (ROOT / "docs" / "postgresql.md").read_text()
# a line both systemd (EnvironmentFile=) and `docker run --env-file` read as the same KEY and VALUE
BOTH = re.compile(r"[A-Z_][A-Z0-9_]*=[^\s'\"#\\;]*")


def unit_environment() -> dict[str, str]:
    text = (ROOT / "config" / "saferbot.service").read_text()
    return dict(m.split("=", 1) for m in re.findall(r"^Environment=(\S+)$", text, re.M))


def dockerfile_environment() -> dict[str, str]:
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    return dict(pair.split("=", 1) for pair in block.replace("\\\n", " ").split())


def installed_env_file() -> str:
    """The file admin.md installs as /etc/saferbot/saferbot.env."""
    m = re.search(r"sudo install .* (\S+) /etc/saferbot/saferbot.env", ADMIN)
    assert m, "admin.md no longer installs the service's env file"
    return m.group(1)


def settings_from(env: dict[str, str], monkeypatch) -> Settings:
    for key in [k for k in __import__("os").environ if k.startswith("SAFERBOT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings(_env_file=None)


def test_every_line_of_the_service_env_file_reads_alike_in_systemd_and_docker():
    lines = [x.strip() for x in SERVICE_ENV.read_text().splitlines() if x.strip() and not x.startswith("#")]
    assert lines and [x for x in lines if not BOTH.fullmatch(x)] == []
    names = {f"SAFERBOT_{f.upper()}" for f in Settings.model_fields}
    assert [x for x in lines if x.split("=")[0] not in names] == []
    for line in SERVICE_ENV.read_text().splitlines():  # commented examples too, once uncommented
        m = re.fullmatch(r"# (SAFERBOT_[A-Z_]+=\S*)", line)
        if m:
            assert BOTH.fullmatch(m.group(1)), line
            value = m.group(1).split("=", 1)[1]
            assert not re.match(r"[.\w]+/", value) or "://" in value, f"a relative path: {line}"


def test_systemd_with_the_installed_env_file_keeps_the_database_in_var_lib(monkeypatch):
    assert installed_env_file() == "config/saferbot.env"
    env = {**unit_environment(), **parse((ROOT / installed_env_file()).read_text())}  # the file wins, as in systemd
    s = settings_from(env, monkeypatch)
    assert s.db == "/var/lib/saferbot/saferbot.db" and s.console is False


def test_docker_with_the_env_file_keeps_the_database_on_the_volume(monkeypatch):
    assert "--env-file saferbot.env" in (ROOT / "Dockerfile").read_text()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["saferbot"]
    assert [e["path"] for e in compose["env_file"]] == ["saferbot.env"] and "cp config/saferbot.env saferbot.env" in ADMIN
    env = {**dockerfile_environment(), **parse(SERVICE_ENV.read_text())}  # --env-file wins over ENV
    s = settings_from(env, monkeypatch)
    assert s.db == "/data/saferbot.db" and s.console is False


def test_the_open_files_limit_and_the_pinned_versions_are_in_every_deployment():
    assert re.search(r"^LimitNOFILE=65536$", (ROOT / "config" / "saferbot.service").read_text(), re.M)
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["saferbot"]
    assert compose["ulimits"]["nofile"] == {"soft": 65536, "hard": 65536}
    assert "--ulimit nofile=65536:65536" in (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*-c constraints.txt \.$", (ROOT / "Dockerfile").read_text(), re.M)
    install = re.search(r"## Install\n.*?```sh\n(.*?)```", ADMIN, re.S).group(1)
    assert "pip install -c constraints.txt ." in install


def as_the_service(doc: str, verb: str, tmp_path, env_lines: str) -> subprocess.CompletedProcess:
    """The guide's own line, run here: root's `sudo` and the user switch dropped, the paths moved into tmp."""
    line = next(x.strip() for x in doc.splitlines() if "--env-file -" in x and x.strip().endswith(verb))
    opt, state = tmp_path / "opt", tmp_path / "state"
    opt.mkdir()
    state.mkdir()
    for name in (".venv", "codewords.yaml", "config"):
        (opt / name).symlink_to(ROOT / name)
    etc = tmp_path / "saferbot.env"
    etc.write_text(SERVICE_ENV.read_text() + env_lines)
    line = (line.replace("sudo -u saferbot ", "").replace("sudo ", "").replace("/etc/saferbot/saferbot.env", str(etc))
            .replace("/opt/saferbot", str(opt)).replace("/var/lib/saferbot", str(state)))
    assert "sudo" not in line and "xargs" not in line
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL)


def test_admin_guides_run_a_command_as_the_service_would_line_works(tmp_path):
    r = as_the_service(ADMIN, "doctor", tmp_path, "SAFERBOT_LOG_LEVEL=WARNING\n")
    assert "Traceback" not in r.stderr and r.returncode in (0, 1), r.stdout + r.stderr
    assert f"store: {tmp_path / 'state' / 'saferbot.db'} does not exist yet" in r.stdout, r.stdout


def test_postgresql_step_6_status_line_works(tmp_path, schema):
    r = as_the_service(PG, "status", tmp_path, f"SAFERBOT_DB={schema.url}\n")
    assert "Traceback" not in r.stderr and f"PostgreSQL {schema.url}" in r.stdout + r.stderr, r.stdout + r.stderr
