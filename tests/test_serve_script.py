"""serve.sh and test.sh say what is in the way in one line, before installing anything.

Each test runs the real scripts on a copy of them (and of the locks) in a temporary directory,
with a stand-in .venv/bin/python or python3 where a broken Python is the point, so nothing is
installed and the project's own .venv is never touched.
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["serve.sh", "test.sh", "bin/install.sh", "bin/lock.sh"]
LOCK_INPUTS = [
    "requirements.txt",
    "requirements-dev.txt",
    "requirements.lock",
    "requirements-dev.lock",
]


@pytest.fixture
def checkout(tmp_path):
    """A copy of the scripts and the requirements, without a .venv."""
    for name in SCRIPTS + LOCK_INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def fake_venv_python(checkout: Path, *, has_pip: bool) -> Path:
    """Put a .venv/bin/python that logs its arguments; `-m pip` works only with has_pip."""
    log = checkout / "python-calls.log"
    pip = 'echo "pip 23.0.1"; exit 0' if has_pip else 'echo "No module named pip" >&2; exit 1'
    executable(
        checkout / ".venv" / "bin" / "python",
        f"""#!/usr/bin/env bash
echo "$*" >> {log}
case "$1 $2" in
    "-m pip") [ "$3" = install ] && exit 0; {pip} ;;
    "-m ensurepip") echo "No module named ensurepip" >&2; exit 1 ;;
esac
exec {sys.executable} "$@"
""",
    )
    return log


def run(checkout: Path, *args: str, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXSITE_", "VIRTUAL_ENV"))}
    if path_prefix:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(checkout / args[0]), *args[1:]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_reports_a_port_in_use_in_one_line_before_installing(checkout):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(checkout, "serve.sh", f"127.0.0.1:{port}")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"serve.sh: port {port} is already in use on 127.0.0.1: stop what listens there or pick "
        f"another port, e.g. ./serve.sh 127.0.0.1:{port + 1}"
    ]
    assert not (checkout / ".venv").exists()  # nothing made, nothing installed


def test_serve_dev_checks_the_port_too(checkout):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(checkout, "serve.sh", "--dev", str(port))  # a port alone: 127.0.0.1
    assert result.returncode != 0 and f"port {port} is already in use" in result.stderr
    assert not (checkout / ".venv").exists()


def test_serve_refuses_an_address_it_cannot_read(checkout):
    result = run(checkout, "serve.sh", "127.0.0.1:http")
    assert result.returncode != 0
    assert len(result.stderr.splitlines()) == 1 and "give HOST:PORT" in result.stderr


def test_serve_takes_at_most_one_address(checkout):
    result = run(checkout, "serve.sh", "127.0.0.1:8000", "extra")
    assert result.returncode == 2 and result.stderr.startswith("usage: ./serve.sh")


def test_a_venv_without_pip_says_to_install_python3_venv(checkout):
    calls = fake_venv_python(checkout, has_pip=False)
    result = run(checkout, "serve.sh", f"127.0.0.1:{free_port()}")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "serve.sh: Python's venv has no pip here: apt install python3-venv, "
        "then rm -rf .venv and run again"
    ]
    assert "-m pip install" not in calls.read_text()
    assert not list((checkout / ".venv").glob(".installed-*"))


def test_a_python_that_makes_venvs_without_pip_says_to_install_python3_venv(checkout, tmp_path):
    # Debian without python3-venv: `python3 -m venv` leaves a venv without pip and fails.
    real = shutil.which("python3")
    fake_bin = tmp_path / "fake-bin"
    executable(
        fake_bin / "python3",
        f"""#!/usr/bin/env bash
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && ln -sf {sys.executable} "$3/bin/python"
    echo "The virtual environment was not created successfully because ensurepip is not" >&2
    echo "available.  On Debian/Ubuntu systems, you need to install the python3-venv" >&2
    exit 1
fi
exec {real} "$@"
""",
    )
    result = run(checkout, "test.sh", path_prefix=fake_bin)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "test.sh: Python's venv has no pip here: apt install python3-venv, then run again"
    ]
    assert not (checkout / ".venv").exists()  # the half-made venv is gone: the next run starts over


def test_a_lock_older_than_its_requirements_stops_the_install(checkout):
    with open(checkout / "requirements.txt", "a") as requirements:
        requirements.write("django-example-package>=1\n")
    result = run(checkout, "serve.sh", f"127.0.0.1:{free_port()}")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "serve.sh: requirements.lock is older than requirements.txt: run bin/lock.sh"
    ]
    assert not (checkout / ".venv").exists()


def test_a_comment_in_the_requirements_leaves_the_lock_current(checkout):
    with open(checkout / "requirements.txt", "a") as requirements:
        requirements.write("# why a package is here\n\n")
    assert run(checkout, "bin/lock.sh", "--check").returncode == 0


def test_pip_runs_only_when_the_lock_changed(checkout):
    calls = fake_venv_python(checkout, has_pip=True)

    def installs() -> int:
        return calls.read_text().count(
            "-m pip install --quiet --require-hashes -r requirements.lock"
        )

    assert run(checkout, "bin/install.sh", "requirements.lock").returncode == 0
    assert run(checkout, "bin/install.sh", "requirements.lock").returncode == 0
    assert installs() == 1
    with open(checkout / "requirements.lock", "a") as lock:
        lock.write("# a lock made again\n")
    assert run(checkout, "bin/install.sh", "requirements.lock").returncode == 0
    assert installs() == 2


def test_the_dev_lock_is_installed_by_test_sh_and_never_by_serve_sh():
    serve = (ROOT / "serve.sh").read_text()
    assert "bin/install.sh requirements.lock" in serve and "requirements-dev" not in serve
    assert "bin/install.sh requirements-dev.lock" in (ROOT / "test.sh").read_text()
    runtime = (ROOT / "requirements.lock").read_text().lower()
    for tool in ("playwright", "atheris", "pytest", "hypothesis"):
        assert f"\n{tool}==" not in runtime
