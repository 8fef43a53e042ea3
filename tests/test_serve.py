"""`headwater serve` as operators meet it (issue 11): one server per port, the first start's
key kept out of logs, slow clients cut off, every request in the access log. Real processes."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headwater.store.sqlite.store import SQLiteStore
from tests.live_server import (
    FIRST_KEY_FILE,
    HEADWATER,
    LiveServer,
    basic_auth,
    free_port,
    live_server,
)

FAIL_TIMEOUT_S = 30.0  # a refused start exits at once; a server that starts would run on


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}


def serve_refused(workdir: Path, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a `headwater serve` expected to refuse to start."""
    workdir.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [str(HEADWATER), "serve", "--db", str(workdir / "other.db"), *args],
        cwd=workdir,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=FAIL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"serve did not refuse to start:\n{out}\n{err}") from None
    return process.returncode, out, err


# -- one server per port (Deliver 2) ------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "0.0.0.0"),  # the wildcard overlaps every address
        ("127.0.0.1", "::"),  # IPv6's wildcard takes IPv4 too (dual stack)
        ("0.0.0.0", "127.0.0.1"),
        ("::", "127.0.0.1"),
    ],
)
def test_an_address_in_use_is_refused(tmp_path: Path, first: str, second: str) -> None:
    # Before: the second server started, and the kernel split connections between the two
    # (SO_REUSEPORT), so identical reads returned a random mix of 200 and 401.
    with live_server(tmp_path / "first", args=["--host", first]) as running:
        code, out, err = serve_refused(
            tmp_path / "second", "--host", second, "--port", str(running.port)
        )
        assert code == 1
        where = f"[{second}]" if ":" in second else second
        assert f"cannot listen on {where}:{running.port}: the address is already in use" in err
        assert "--port" in err and "--reuse-port" in err
        # Refused before printing anything or creating anything.
        assert out == ""
        assert not (tmp_path / "second" / "other.db").exists()
        assert not (tmp_path / "second" / FIRST_KEY_FILE).exists()
        assert running.client().get(f"{running.project_url}/events").status_code == 200


def test_two_servers_starting_together_on_one_port(tmp_path: Path) -> None:
    # The bind is the check, so there is no window between a check and a bind to race in.
    for round_ in range(3):
        port = free_port()
        folders = [tmp_path / f"{round_}-{i}" for i in range(2)]
        processes = []
        for folder in folders:
            folder.mkdir()
            processes.append(
                subprocess.Popen(
                    [str(HEADWATER), "serve", "--db", "h.db", "--port", str(port)],
                    cwd=folder,
                    env=environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=(folder / "err.txt").open("wb"),
                    start_new_session=True,
                )
            )
        try:
            deadline = time.monotonic() + FAIL_TIMEOUT_S
            while all(p.poll() is None for p in processes) and time.monotonic() < deadline:
                time.sleep(0.05)
            refused = [i for i, p in enumerate(processes) if p.poll() is not None]
            assert len(refused) == 1, "both servers started, or both stopped"
            [loser] = refused
            assert processes[loser].returncode == 1
            assert "already in use" in (folders[loser] / "err.txt").read_text()
            assert not (folders[loser] / FIRST_KEY_FILE).exists()
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(30)


def test_reuse_port_shares_a_port_only_between_servers_that_ask(tmp_path: Path) -> None:
    with live_server(tmp_path / "a", args=["--reuse-port"]) as a:
        shared = f"sqlite:///{a.db_path}"
        with live_server(
            tmp_path / "b",
            args=["--reuse-port"],
            port=a.port,
            database_url=shared,
            api_key=a.api_key,
        ) as b:
            deadline = time.monotonic() + FAIL_TIMEOUT_S
            while "Started worker" not in b.output() and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(20):  # new connections: the kernel spreads them over both servers
                assert httpx.get(f"{a.base_url}/healthz").status_code == 200
            assert '"/healthz"' in a.output() and '"/healthz"' in b.output()
            code, _, err = serve_refused(tmp_path / "c", "--port", str(a.port))
            assert code == 1 and "already in use" in err  # not asked: refused
    with live_server(tmp_path / "d") as d:
        code, _, err = serve_refused(tmp_path / "e", "--port", str(d.port), "--reuse-port")
        assert code == 1 and "does not share its port" in err


# -- the first start's key (Deliver 6, 7) -------------------------------------------------


def test_off_a_terminal_the_first_key_goes_to_an_owner_only_file(
    tmp_path: Path, database_url: str
) -> None:
    with live_server(tmp_path, database_url=database_url) as server:
        secret = server.api_key.partition(".")[2]
        path = tmp_path / FIRST_KEY_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        output = server.output()
        assert f"API key:   written to {path} (readable only by its owner)" in output
        # Deliver 7: the printed track URL uses the printed source, and works as printed.
        source = re.search(r"Source id: (\S+)", output)
        track = re.search(r"Track URL: (\S+)", output)
        assert source and track and source.group(1) == server.source_id
        assert track.group(1) == f"{server.project_url}/sources/{server.source_id}/track"
        body = {"track": [{"name": "E", "payload": [{"eventId": "k1", "userId": "u"}]}]}
        with server.client() as http:
            assert http.post(track.group(1), json=body).status_code == 201
            [event] = http.get(f"{server.project_url}/events").json()["events"]
            assert event["sourceId"] == server.source_id
            # Refused requests are logged, and the secret never is, whatever the client sent.
            http.get(f"{server.project_url}/events", params={"apiKey": server.api_key})
            anonymous = httpx.get(f"{server.project_url}/events")
            assert anonymous.status_code == 401
        server.restart()  # a store with a project: no new key, no new file
        assert path.read_text().count("API key:") == 1
    output = server.output()
    assert secret not in output
    assert output.count("Created organization") == 1
    access = [json.loads(line) for line in output.splitlines() if '"headwater.access"' in line]
    assert [line["status"] for line in access if line["route"].endswith("/events")] == [
        200,
        200,
        401,
    ]


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / FIRST_KEY_FILE).write_text("an older key\n")
    code, out, err = serve_refused(tmp_path, "--port", str(free_port()))
    assert code == 1
    assert f"{tmp_path / FIRST_KEY_FILE} already exists" in err and "Nothing was created" in err
    assert (tmp_path / FIRST_KEY_FILE).read_text() == "an older key\n"
    store = SQLiteStore(str(tmp_path / "other.db"))
    assert not store.has_projects()  # no key exists that nobody can read
    store.close()
    assert "Headwater listening" not in out


def test_on_a_terminal_the_first_key_is_shown_and_kept_nowhere(tmp_path: Path) -> None:
    port = free_port()
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(HEADWATER), "serve", "--db", "h.db", "--port", str(port)],
        cwd=tmp_path,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        shown = _read_until(controller, b"Headwater listening")
        key = re.search(r"API key:\s+(\S+\.\S+)", shown)
        assert key, shown
        assert not (tmp_path / FIRST_KEY_FILE).exists()
        base = f"http://127.0.0.1:{port}/v1/default/projects/default"
        response = httpx.get(f"{base}/events", headers=basic_auth(key.group(1)), timeout=10)
        assert response.status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        os.close(controller)


def _read_until(fd: int, marker: bytes) -> str:
    seen = b""
    deadline = time.monotonic() + FAIL_TIMEOUT_S
    while marker not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            seen += os.read(fd, 4096)
    return seen.decode("utf-8", "replace")


# -- slow clients (finding 12) ------------------------------------------------------------

TIMEOUT_S = 1  # header_timeout_seconds for these tests
GIVE_UP_S = 20.0  # far past the bound: a connection still open then is held for good


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveServer]:
    env = {"HEADWATER_HEADER_TIMEOUT_SECONDS": str(TIMEOUT_S)}
    with live_server(tmp_path, env=env) as server:
        yield server


def _closed(sock: socket.socket, trickle: bytes = b"") -> bool:
    """Whether the server closes `sock` while the client sends `trickle` a byte at a time."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + GIVE_UP_S
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(trickle):
                sock.send(trickle[sent : sent + 1])
                sent += 1
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, broken pipe: closed too
            return True
    return False


SLOW = {
    "silent": b"",
    "headers at a byte per 0.2 s": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200,
    "HTTP/2 preface, then nothing": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


def test_connections_slow_to_send_headers_are_closed(guarded: LiveServer) -> None:
    # Before: a silent connection, or one that sent the HTTP/2 preface, was held forever
    # (granian's HTTP/1-or-2 detection waits without a timeout), headers for 30 s.
    results: dict[str, bool] = {}

    def hold(name: str, trickle: bytes) -> None:
        with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
            results[name] = _closed(sock, trickle)

    threads = [threading.Thread(target=hold, args=item) for item in SLOW.items()]
    for thread in threads:
        thread.start()
    # Meanwhile, normal clients are served, even one whose headers come in two parts.
    with guarded.client() as http:
        for _ in range(5):
            assert http.get("/healthz").status_code == 200
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(TIMEOUT_S / 4)
        sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 200")
    for thread in threads:
        thread.join()
    assert results == dict.fromkeys(SLOW, True)


def test_an_idle_keep_alive_connection_is_closed(guarded: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed(sock)
