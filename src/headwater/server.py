"""The HTTP server of `headwater serve`: one listening socket, granian workers sharing it.

One server per port. granian alone lets every worker bind its own socket with SO_REUSEPORT,
so a second server started on a port in use binds too and the kernel splits connections
between the two. Here the supervisor binds one socket itself, without SO_REUSEPORT unless
`reuse_port` asks for it, before anything is printed or created: the bind is the check, so no
other server can slip in between a check and a bind. The workers inherit that socket (fork).

A worker that dies is respawned; the socket stays open meanwhile, so connections wait in its
backlog instead of being refused. A worker that dies again within a few seconds of its respawn
ends the server with exit status 1 (granian's crash-loop rule), for a supervisor to act on.
Workers end with their supervisor, so a killed supervisor leaves no worker holding the port.

HTTP/1.1 only, with a bound on how long headers may take (`header_timeout_seconds`): with
HTTP/2 prior knowledge also accepted, a connection that sends nothing, or the HTTP/2 preface
and then nothing, was held open forever. TLS and HTTP/2 belong to the proxy in front.
"""

from __future__ import annotations

import errno
import functools
import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

from headwater import logs
from headwater.config import Settings
from headwater.errors import ListenError

BACKLOG = 1024  # granian's default: connections waiting to be accepted
KILL_TIMEOUT_S = 10  # how long a stopping worker may take before it is killed
ORPHAN_CHECK_S = 0.5  # how often a worker checks that its supervisor still runs


def address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url(host: str, port: int) -> str:
    """A URL of the server that works on this machine: a wildcard host becomes loopback."""
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{address(local, port)}"


def listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A socket listening on host:port; ListenError, saying what to do, when it cannot."""
    where = address(host, port)
    try:
        found = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {where}: {exc.strerror}") from None
    family, kind, proto, _, bound = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restart bind while its old connections linger in TIME_WAIT; on Linux it never
        # lets a socket bind over a listening one (SO_REUSEPORT alone does that).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(bound)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(_refusal(exc, where, port, reuse_port)) from None
    return sock


def _refusal(exc: OSError, where: str, port: int, reuse_port: bool) -> str:
    if exc.errno == errno.EADDRINUSE:
        sharing = (
            "The server there does not share its port (it must run with --reuse-port too, "
            "as the same user)."
            if reuse_port
            else "To share the port on purpose (a new server starting before the old one "
            "stops), start every server on it with --reuse-port (HEADWATER_REUSE_PORT=true)."
        )
        return (
            f"cannot listen on {where}: the address is already in use; another server listens "
            f"on port {port} at this address or an overlapping one (0.0.0.0 and :: cover every "
            f"address). Stop it, or choose another port with --port (HEADWATER_PORT). {sharing}"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: permission denied; ports below 1024 need privileges "
            "(CAP_NET_BIND_SERVICE). Choose a port from 1024 up and a proxy in front."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: not an address of this machine (--host)"
    return f"cannot listen on {where}: {exc.strerror}"


def run(settings: Settings, listener: socket.socket) -> None:
    """Serve on `listener` until SIGINT or SIGTERM (returns), or a worker crash loop (exit 1)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    # The workers inherit the listening socket: fork, whatever this Python's default.
    multiprocessing.set_start_method("fork", force=True)
    host, port = listener.getsockname()[:2]
    _supervisor_class()(
        listener,
        target="headwater.api.app:create_app",  # named in granian's logs
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        backlog=BACKLOG,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(settings.header_timeout_seconds * 1000))
        ),
        respawn_failed_workers=True,
        # Bounds shutdown: a SIGTERM that lands while a worker is still starting is otherwise
        # lost by that worker, and granian 2.8 then waits for it forever.
        workers_kill_timeout=KILL_TIMEOUT_S,
        log_access=False,  # the app's access log knows route templates and key prefixes
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=logs.GRANIAN_LOGGING,
    ).serve(target_loader=functools.partial(worker_app, os.getpid()), wrap_loader=False)


@functools.cache
def _supervisor_class() -> type[Any]:
    from granian._granian import SocketHolder
    from granian.server.mp import MPServer

    class Supervisor(MPServer):
        """granian's process supervisor, serving from a socket bound by `listen`."""

        def __init__(self, listener: socket.socket, **options: Any) -> None:
            self._listener = listener
            super().__init__(**options)

        def _init_shared_socket(self) -> None:
            # What granian builds itself where it shares one socket (not on Linux): the
            # listening socket (`_sso`, closed at shutdown) and its fd wrapped for the workers.
            fd = self._listener.fileno()
            self._ssp, self._sso = None, self._listener
            self._sfd: int = fd  # type: ignore[assignment] # typed from the base's None
            # (fd, is a Unix socket, backlog) on Linux; the stub has another platform's form
            self._shd = SocketHolder(fd, False, self.backlog)  # type: ignore[call-arg,assignment]

    return Supervisor


def worker_app(supervisor: int) -> Any:
    """One worker's ASGI app (runs in the worker); the worker ends when its supervisor does."""
    # A worker starts with its supervisor's signal handlers, which only flag the supervisor's
    # copy of the server: a SIGTERM before granian installs the worker's own handlers would be
    # lost. Until then SIGTERM and SIGINT end the worker at once (nothing is queued yet).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    threading.Thread(target=_end_with, args=(supervisor,), name="orphan-watch", daemon=True).start()
    from headwater.api.app import create_app

    return create_app()


def _end_with(supervisor: int) -> None:
    """Once the supervisor is gone, stop this worker as the supervisor would have."""
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)  # commit what is queued, answer, exit
    time.sleep(KILL_TIMEOUT_S)  # granian 2.8 loses a SIGTERM that lands while it starts
    os.kill(os.getpid(), signal.SIGKILL)
