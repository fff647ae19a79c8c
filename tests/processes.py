"""Real Cirrus processes for tests: ``cirrus serve`` (``LiveServer``), ``cirrus dimse``, ``cirrus
gateway`` and ``cirrus worker`` share one way to start on a free port with a log file, wait until
they listen, stop (terminate, then kill) and show their output (``CirrusProcess``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The first admin's password of every app and live server the tests start (tests/auth_helpers.py).
ADMIN_PASSWORD = "Test-admin-pw-1"

# How long a starting process may take to listen: imports alone take half a minute on a loaded machine.
START_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def cirrus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One ``cirrus`` command run to its end (output captured)."""
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


class CirrusProcess:
    """A long-running ``cirrus <command>`` with its output appended to ``log``."""

    stop_seconds = 20.0

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        # A command the process runs under, e.g. ``["prlimit", "--as=4294967296", "--"]`` (it must exec
        # the process, so that ``proc.pid`` is the server's own).
        self.wrapper: list[str] = []
        self.env = env
        self.log = log
        self.port = free_port() if port is None else port
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start ``cirrus *args`` (not waiting for anything)."""
        # The child keeps its own copy of the log descriptor; ours is closed at once.
        with open(self.log, "ab") as out:
            argv = [*self.wrapper, sys.executable, "-m", "server.cli", *args]
            self.proc = subprocess.Popen(argv, env=env or self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def listen(self, args: list[str], env: dict[str, str] | None = None, timeout: float = START_SECONDS) -> None:
        """Start ``cirrus *args`` and wait until the port answers."""
        self.launch(args, env)
        wait_for_port(self.port, timeout=timeout, proc=self.proc)

    def kill(self) -> None:
        """``kill -9`` and reap."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """Terminate; kill what has not ended after ``stop_seconds``."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class LiveServer(CirrusProcess):
    """A real ``cirrus serve`` process on a free port."""

    stop_seconds = 10.0

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        port = free_port()
        super().__init__(env, data_dir / f"server-{port}.log", port)
        self.data_dir = data_dir
        # An admin API token minted at start (sign-in as ``admin`` with the env's password).
        self.token = ""

    @property
    def headers(self) -> dict[str, str]:
        """Send these with every request: ``Authorization: Bearer <admin token>``."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self, mint_token: bool = True, timeout: float = START_SECONDS) -> LiveServer:
        """Start and wait for the port; then (``mint_token``) sign in over plain HTTP for ``token``."""
        self.listen(["serve", "--port", str(self.port)], timeout=timeout)
        if not mint_token:
            return self
        from tests.auth_helpers import live_admin_token  # it imports this module (ADMIN_PASSWORD)

        self.token = live_admin_token(self.url, self.env.get("CIRRUS_ADMIN_PASSWORD", ADMIN_PASSWORD))
        return self


def live_server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRRUS_")}
    env.update(
        {
            "CIRRUS_DATA_DIR": str(data_dir),
            "CIRRUS_DATABASE_URL": database_url,
            "CIRRUS_WORKERS": "0",
            # One process, so kill() is a kill -9 of the whole server (tests that need several
            # HTTP workers set it and stop the process group).
            "CIRRUS_HTTP_WORKERS": "1",
            "CIRRUS_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


__all__ = ["ADMIN_PASSWORD", "CirrusProcess", "LiveServer", "ROOT", "cirrus", "free_port", "live_server_env",
           "wait_for_port"]
