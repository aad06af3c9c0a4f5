"""Starting the adapter's commands as real processes, for the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args, env, cwd) -> str:
    """Run `mc-adapter <args>` to completion; its standard output."""
    done = subprocess.run([sys.executable, "-m", "adapter", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def spawn(args: list[str], *, env: dict, cwd, name: str, **options) -> subprocess.Popen:
    """Start `python -m adapter <args>` with its stderr in `<cwd>/<name>.log` (a file: a pipe nobody
    reads would fill with the JSON logs and block the process)."""
    log_path = os.path.join(str(cwd), f"{name}.log")
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "adapter", *args], env=env, cwd=cwd,
                                   stdout=subprocess.DEVNULL, stderr=log, **options)
    process.log_path = log_path
    return process


def log_tail(process: subprocess.Popen, size: int = 2000) -> str:
    """The end of a spawned process's log (for a failure's message)."""
    path = getattr(process, "log_path", None)
    if path is None or not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as log:
        return log.read()[-size:]


def wait_until_serving(process: subprocess.Popen, base: str, timeout: float = 60) -> None:
    """Until `base/fhir/metadata` answers 200, or fail with the server's error output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            if process.poll() is not None:
                pytest.fail(f"the adapter did not start: {log_tail(process)}")
            time.sleep(0.3)
    process.terminate()
    pytest.fail(f"the adapter did not answer within {timeout} s")


def serve_sandbox(workdir, database_url: str, *, public_base: bool = True) -> tuple[subprocess.Popen, str, dict]:
    """`mc-adapter serve --sandbox` on a free port and the suite's database; (process, base URL, env).

    With `public_base` false no `MC_PUBLIC_BASE_URL` is set: links must follow the bound port.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    base = f"http://127.0.0.1:{port}"
    if public_base:
        env["MC_PUBLIC_BASE_URL"] = base
    if database_url.startswith("postgresql"):
        env["MC_DATABASE_URL"] = database_url
    process = spawn(["serve", "--sandbox", "--port", str(port), "--workers", "2"], env=env, cwd=workdir, name=f"serve-{port}")
    wait_until_serving(process, base)
    return process, base, env
