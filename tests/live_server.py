"""A real `headwater serve` on a real socket, for end-to-end tests (not a test module).

The server runs in its own session, so the granian supervisor and every worker it spawns share
one process group: `stop()` and `kill()` reach all of them. `kill()` is a crash (SIGKILL to
the whole group); `restart()` starts a new server on the same database and the same port.
A server runs on its own SQLite file unless given a `database_url` (several servers can share
one); `api_key` skips reading the bootstrap key, which only the first server of a store creates.
The server's output is a file, not a terminal, so it writes that key to FIRST_KEY_FILE in its
working directory (`workdir`), where `start()` reads it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

HEADWATER = Path(sys.executable).with_name("headwater")
FIRST_KEY_FILE = "headwater-first-key.txt"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A port nothing listens on right now (bind to port 0, let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def basic_auth(api_key: str) -> dict[str, str]:
    prefix, _, secret = api_key.partition(".")
    token = base64.b64encode(f"{prefix}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class ServerError(RuntimeError):
    """The server did not start (or stop) as expected; the message carries its output."""


class LiveServer:
    """One `headwater serve` subprocess with its own database file in `workdir`."""

    def __init__(
        self,
        workdir: Path,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        database_url: str | None = None,
        api_key: str | None = None,
        args: Sequence[str] = (),
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.args = list(args)  # extra `headwater serve` options
        self.workers = workers
        self.env = dict(env or {})  # extra HEADWATER_* settings for the server
        self.db_path = workdir / "headwater.db"
        self.database_url = database_url
        self.log_path = workdir / "server.log"
        self.port = port or free_port()
        self.org = "default"
        self.project = "default"
        self.api_key = api_key or ""
        self.source_id = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- addresses ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def project_url(self) -> str:
        return f"{self.base_url}/v1/{self.org}/projects/{self.project}"

    @property
    def headers(self) -> dict[str, str]:
        return basic_auth(self.api_key)

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """An HTTP client for this server, authenticated with the bootstrap key."""
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout)

    def output(self) -> str:
        """Everything the server printed so far, across restarts (stdout and stderr)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text("utf-8", errors="replace")

    # -- lifecycle ----------------------------------------------------------

    @property
    def pid(self) -> int:
        """The supervisor's process id (also the process group's)."""
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.process is not None:
            raise ServerError("server already started; stop() or kill() it first")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        env.update(self.env)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        store = (
            ["--database-url", self.database_url]
            if self.database_url
            else ["--db", str(self.db_path)]
        )
        command = [str(HEADWATER), "serve", *store, "--port", str(self.port)]
        command += ["--workers", str(self.workers), *self.args]
        self.process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_healthy()
            if not self.api_key:
                self._read_credentials()
        except BaseException:
            self.kill()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error = "no attempt"
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise ServerError(
                        f"headwater serve exited with {self.process.returncode} before it was "
                        f"healthy; output:\n{self.output()}"
                    )
                try:
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                    last_error = "status was not 200"
                except httpx.HTTPError as exc:
                    last_error = repr(exc)
                time.sleep(0.05)
        raise ServerError(
            f"headwater serve not healthy after {START_TIMEOUT_S}s ({last_error}); "
            f"output:\n{self.output()}"
        )

    def _read_credentials(self) -> None:
        path = self.workdir / FIRST_KEY_FILE
        text = path.read_text("utf-8") if path.exists() else ""
        key = re.search(r"^API key:\s+(\S+)\s*$", text, re.MULTILINE)
        source = re.search(r"^\s*Source id:\s+(\S+)\s*$", text, re.MULTILINE)
        if key is None or source is None:
            raise ServerError(f"no bootstrap key in {path}:\n{text}\noutput:\n{self.output()}")
        self.api_key, self.source_id = key.group(1), source.group(1)

    def worker_pids(self) -> list[int]:
        """The live worker processes (the supervisor's children), oldest first."""
        assert self.process is not None
        return sorted(_children(self.process.pid))

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """The exit status once the server exits by itself (ServerError if it does not)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(f"still running after {timeout}s:\n{self.output()}") from None

    def stop(self) -> None:
        """Graceful stop: SIGTERM to the group, wait, then SIGKILL whatever is left.

        SIGTERM is repeated: a granian worker that is still starting up swallows the first one
        (it has not installed its own handler yet), and the supervisor then waits for it forever.
        """
        if self.process is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.process.poll() is None and time.monotonic() < deadline:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(min(0.25, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                continue
        self._finish()

    def kill(self) -> None:
        """A crash: SIGKILL to the supervisor and every worker at once."""
        if self.process is None:
            return
        self._finish()

    def restart(self) -> None:
        """Stop (gracefully) if running, then start again on the same database file and port."""
        self.stop()
        self.start()

    def _signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def _finish(self) -> None:
        """SIGKILL the group, reap the supervisor, and wait for the workers to be gone."""
        assert self.process is not None
        pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        self._signal(signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def _children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of `pid`."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if alive(c)]


def alive(pid: int) -> bool:
    """Whether the process runs (exists and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in the group."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) >= 3 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


@contextlib.contextmanager
def live_server(
    workdir: Path,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    database_url: str | None = None,
    api_key: str | None = None,
    args: Sequence[str] = (),
    port: int | None = None,
) -> Iterator[LiveServer]:
    """A started server, always torn down (even when the test fails)."""
    server = LiveServer(workdir, workers, env, database_url, api_key, args, port)
    try:
        server.start()
        yield server
    finally:
        server.stop()
