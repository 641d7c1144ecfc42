"""The deployment files in deploy/ agree with the code they deploy.

deploy/test_deploy.sh runs them for real (nginx, two gunicorn pools, PostgreSQL); these checks are
the cheap ones that need none of that: every setting is in the example environment file, the nginx
template renders, the units start what exists, the pools' timeouts fit WeChat's 5 seconds.
"""

import ast
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "wxsite.env.example"
NGINX_TEMPLATE = DEPLOY / "nginx" / "wxsite.conf"
RENDER = DEPLOY / "nginx" / "render.sh"
UNITS = DEPLOY / "systemd"
APP_DIR = "/srv/wxsite/app"  # where deploy/README.md clones the code

# gunicorn.conf.py reads GUNICORN_<POOL>_<NAME> through an f-string, which the parser cannot see.
GUNICORN_PER_POOL = {
    f"GUNICORN_{pool}_{name}"
    for pool in ("ENDPOINT", "ADMIN")
    for name in ("BIND", "WORKERS", "TIMEOUT")
}
ENV_READERS = {"env_str", "env_bool", "env_int", "env_list", "getenv"}
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def names_read_from_environment(source: Path) -> set[str]:
    """Return the variable names a Python file reads: env_*("X"), os.environ.get("X"), …"""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            target = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            reads = called in ENV_READERS or (
                called in {"get", "setdefault"} and target.endswith("environ")
            )
            if called == "config" and target.endswith("dj_database_url"):
                names.add("DATABASE_URL")  # dj_database_url.config() reads it itself
            if reads and node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return {name for name in names if isinstance(name, str) and NAME.match(name)}


def example_assignments() -> dict[str, tuple[str, bool]]:
    """Return NAME -> (value, active) for each NAME=value line, commented out (#NAME=) or not."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match.group(2)] = (match.group(3), not match.group(1))
    return found


def unit_entries(unit: Path) -> list[tuple[str, str, str]]:
    """Return (section, key, value) for every setting of a systemd unit, repeats included."""
    entries, section = [], ""
    for line in unit.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(unit: Path, key: str) -> list[str]:
    return [value for _, k, value in unit_entries(unit) if k == key]


def gunicorn_config(**env) -> dict:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(old)


def render(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WXSITE_", "WECHAT_"))}
    return subprocess.run(
        ["bash", str(RENDER)], env=clean | env, capture_output=True, text=True, check=False
    )


# --- the environment file --------------------------------------------------------------------


def test_every_setting_read_from_the_environment_is_in_the_example_env_file():
    read = names_read_from_environment(ROOT / "wxsite" / "settings.py")
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "WECHAT_TOKEN"} <= read  # the parser works
    missing = sorted(read - set(example_assignments()))
    assert not missing, f"add to deploy/wxsite.env.example, with a comment: {missing}"


def test_every_gunicorn_setting_is_in_the_example_env_file():
    read = names_read_from_environment(ROOT / "gunicorn.conf.py") - {
        "DJANGO_SETTINGS_MODULE",
        "WXSITE_POOL",  # set by each unit, never in the shared file
        "GUNICORN_BIND",  # the shared file would give both pools one address: per-pool names
        "GUNICORN_WORKERS",
        "GUNICORN_TIMEOUT",
    }
    missing = sorted((read | GUNICORN_PER_POOL) - set(example_assignments()))
    assert not missing, f"add to deploy/wxsite.env.example: {missing}"


def test_the_example_env_file_names_nothing_that_nobody_reads():
    readers = names_read_from_environment(ROOT / "wxsite" / "settings.py")
    readers |= names_read_from_environment(ROOT / "gunicorn.conf.py")
    readers |= GUNICORN_PER_POOL
    for unit in UNITS.glob("*.service"):
        readers |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", unit.read_text(encoding="utf-8")))
    unknown = sorted(set(example_assignments()) - readers)
    assert not unknown, f"deploy/wxsite.env.example sets names nothing reads: {unknown}"


def test_the_example_env_file_never_sets_the_pool():
    # EnvironmentFile= overrides the unit's Environment=: both units would run the same pool.
    assert "WXSITE_POOL" not in example_assignments()


def test_the_example_env_file_is_plain_name_value_lines_for_systemd_and_sh():
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            assert re.match(r"^[A-Z][A-Z0-9_]*=[^\s\"'$`\\]*$", line), f"line {number}: {line!r}"


def test_the_example_env_file_gives_settings_they_accept():
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "WECHAT_", "DATABASE_", "CACHE_"))
    }
    env |= {name: value for name, (value, active) in example_assignments().items() if active}
    code = (
        "import wxsite.settings as s; "
        "assert s.HTTPS and s.SECURE_PROXY_SSL_HEADER and not s.DEBUG; "
        "assert s.CACHES['default']['BACKEND'].endswith('RedisCache'); "
        "assert s.DATABASES['default']['ENGINE'].endswith('postgresql'); "
        "print(s.WECHAT_MAX_BODY_BYTES)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1048576"


# --- gunicorn.conf.py ------------------------------------------------------------------------


def test_gunicorn_runs_one_pool_for_everything_by_default():
    config = gunicorn_config(WXSITE_POOL="")
    assert (config["pool"], config["bind"], config["timeout"]) == ("all", "127.0.0.1:8000", 4)


def test_gunicorn_endpoint_pool_gives_up_before_wechat_does():
    config = gunicorn_config(WXSITE_POOL="endpoint")
    assert config["bind"] == "127.0.0.1:8001"
    assert config["timeout"] < 5  # WeChat retries after 5 s
    assert config["proc_name"] == "wxsite-endpoint"


def test_gunicorn_admin_pool_has_its_own_longer_timeout_and_workers():
    config = gunicorn_config(WXSITE_POOL="admin")
    assert config["bind"] == "127.0.0.1:8002"
    assert config["timeout"] >= 60 and config["workers"] >= 2


def test_gunicorn_per_pool_variables_win_over_the_generic_ones():
    config = gunicorn_config(
        WXSITE_POOL="admin", GUNICORN_TIMEOUT="30", GUNICORN_ADMIN_TIMEOUT="300"
    )
    assert config["timeout"] == 300
    assert gunicorn_config(WXSITE_POOL="endpoint", GUNICORN_TIMEOUT="3")["timeout"] == 3


def test_gunicorn_refuses_an_unknown_pool():
    with pytest.raises(SystemExit, match="WXSITE_POOL must be all, endpoint or admin"):
        gunicorn_config(WXSITE_POOL="both")


# --- the nginx site --------------------------------------------------------------------------


def test_nginx_template_placeholders_are_exactly_what_render_fills_in():
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", NGINX_TEMPLATE.read_text(encoding="utf-8")))
    script = RENDER.read_text(encoding="utf-8")
    filled = set(re.search(r"names=\(([^)]*)\)", script).group(1).split())
    assert placeholders == filled


def test_nginx_site_renders_without_placeholders_left():
    result = render(WXSITE_SERVER_NAME="wx.example.com")
    assert result.returncode == 0, result.stderr
    assert "${" not in result.stdout
    assert "server_name wx.example.com;" in result.stdout
    assert "/etc/letsencrypt/live/wx.example.com/fullchain.pem;" in result.stdout


def test_nginx_site_body_limit_matches_the_default_of_wechat_max_body_bytes():
    rendered = render(WXSITE_SERVER_NAME="wx.example.com").stdout
    default = subprocess.run(
        [sys.executable, "-c", "import wxsite.settings as s; print(s.WECHAT_MAX_BODY_BYTES)"],
        env={k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    sizes = set(re.findall(r"client_max_body_size (\d+);", rendered))
    assert sizes == {default}


def test_nginx_render_refuses_a_missing_host_name_and_values_that_break_the_file():
    assert render().returncode != 0
    broken = render(WXSITE_SERVER_NAME="wx.example.com; include /etc/passwd")
    assert broken.returncode != 0 and broken.stdout == ""
    assert "WXSITE_SERVER_NAME" in broken.stderr


def server_blocks(config: str) -> list[str]:
    """Return the text of each top-level `server { … }` block."""
    blocks, depth, start = [], 0, None
    for match in re.finditer(r"\bserver\s*\{|\{|\}", config):
        if match.group().startswith("server") and depth == 0:
            start = match.start()
        if match.group().endswith("{"):
            depth += 1
        else:
            depth -= 1
            if depth == 0 and start is not None:
                blocks.append(config[start : match.end()])
                start = None
    return blocks


def location(block: str, spec: str) -> str:
    match = re.search(r"location " + re.escape(spec) + r" \{(.*?)\n    \}", block, re.S)
    assert match, f"no location {spec}"
    return match.group(1)


def test_nginx_sends_wechat_and_healthz_to_the_endpoint_pool_on_http_and_https():
    http, https = server_blocks(render(WXSITE_SERVER_NAME="wx.example.com").stdout)
    assert "ssl" not in http.split("server_name")[0] and "443 ssl" in https
    for block in (http, https):
        for path in ("/wechat/", "/wechat", "/healthz"):
            assert "proxy_pass http://wxsite_endpoint;" in location(block, f"= {path}")
        timeout = re.search(r"proxy_read_timeout (\d+)s;", location(block, "= /wechat/"))
        assert int(timeout.group(1)) <= 5  # WeChat's deadline
        assert "X-Forwarded-Proto $scheme" in block


def test_nginx_redirects_the_rest_of_http_and_sends_https_to_the_admin_pool():
    http, https = server_blocks(render(WXSITE_SERVER_NAME="wx.example.com").stdout)
    assert "return 301 https://$host$request_uri;" in location(http, "/")
    admin = location(https, "/")
    assert "proxy_pass http://wxsite_admin;" in admin
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", admin).group(1))
    assert read_timeout >= gunicorn_config(WXSITE_POOL="admin")["timeout"]
    assert "alias /srv/wxsite/app/staticfiles/;" in location(https, "/static/")


# --- systemd units ---------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["endpoint", "admin"])
def test_gunicorn_units_run_their_pool_from_gunicorn_conf(pool):
    unit = UNITS / f"wxsite-{pool}.service"
    assert unit_values(unit, "Environment") == [f"WXSITE_POOL={pool}"]
    (exec_start,) = unit_values(unit, "ExecStart")
    assert exec_start == (
        f"{APP_DIR}/.venv/bin/gunicorn --config {APP_DIR}/gunicorn.conf.py wxsite.wsgi"
    )
    assert (ROOT / "gunicorn.conf.py").is_file() and (ROOT / "wxsite" / "wsgi.py").is_file()
    assert unit_values(unit, "WorkingDirectory") == [APP_DIR]


@pytest.mark.parametrize("name", ["wxsite-endpoint", "wxsite-admin", "wxsite-purge"])
def test_units_run_as_their_own_user_hardened_writing_only_the_state_directory(name):
    unit = UNITS / f"{name}.service"
    assert unit_values(unit, "User") == ["wxsite"]
    assert unit_values(unit, "EnvironmentFile") == ["/etc/wxsite/wxsite.env"]
    for key, value in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ]:
        assert unit_values(unit, key) == [value], key
    writable = unit_values(unit, "ReadWritePaths")
    assert writable == ["/var/lib/wxsite"]
    spool = example_assignments()["WECHAT_SPOOL_DIR"][0]
    assert spool.startswith("/var/lib/wxsite/")


def test_purge_runs_purge_messages_with_arguments_it_accepts():
    from replies.management.commands.purge_messages import Command

    unit = UNITS / "wxsite-purge.service"
    (exec_start,) = unit_values(unit, "ExecStart")
    program, manage, command, *arguments = exec_start.split()
    assert (program, manage, command) == (
        f"{APP_DIR}/.venv/bin/python",
        f"{APP_DIR}/manage.py",
        "purge_messages",
    )
    defaults = dict(value.split("=", 1) for value in unit_values(unit, "Environment"))
    example = {name: value for name, (value, _) in example_assignments().items()}
    for source in (defaults, example):  # the unit's defaults, and the env file that overrides
        expanded = [re.sub(r"\$\{(\w+)\}", lambda m, s=source: s[m.group(1)], a) for a in arguments]
        options = Command().create_parser("manage.py", "purge_messages").parse_args(expanded)
        assert options.older_than and options.batch_size > 0


def test_purge_timer_starts_the_purge_daily():
    timer = UNITS / "wxsite-purge.timer"
    assert unit_values(timer, "Unit") == ["wxsite-purge.service"]
    assert unit_values(timer, "OnCalendar")  # every night
    assert unit_values(timer, "Persistent")[0] in {"yes", "true"}
    assert unit_values(timer, "WantedBy") == ["timers.target"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_accepts_every_key_of_the_units(tmp_path):
    for unit in UNITS.iterdir():
        shutil.copy(unit, tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(map(str, tmp_path.iterdir()))],
        capture_output=True,
        text=True,
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # The code is not installed at /srv/wxsite/app on this machine.
        if f"Command {APP_DIR}/" not in line and line.strip()
    ]
    assert not complaints, "\n".join(complaints)
