"""Running the app: bind the socket (a port in use is one clear sentence), uvicorn until SIGINT/SIGTERM.

The connection limits (docs/security.md lists them): a request's headers must arrive within
``HEADER_TIMEOUT_S`` of the connection opening or of the previous answer (an idle or slow-loris connection is
closed then); at most ``MAX_CONNECTIONS`` connections are open at once (the next one closes the oldest that is
not in a request, or itself when all are busy); accept errors (out of file descriptors) are logged once a
minute, not per attempt; every accepted socket has TCP_NODELAY (no 40 ms Nagle wait between keep-alive
answers). A stop (SIGTERM, SIGINT) lets running requests finish for ``GRACE_S`` and exits at ``STOP_DEADLINE_S``
whatever is still running.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager

from dronectl.errors import OutputError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
HEADER_TIMEOUT_S = 10.0  # a request's headers, from the connection's opening or the previous answer
KEEP_ALIVE_S = 5.0  # an idle kept-alive connection
MAX_CONNECTIONS = 512
GRACE_S = 5  # running requests after a stop signal
STOP_DEADLINE_S = 10  # the process exits then, whatever runs
log = logging.getLogger("dronectl.web")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted sockets only when the protocol says TCP
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OutputError(f"port {port} on {host} is in use; choose another with --port") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise OutputError(f"may not listen on port {port} (ports below 1024 need root); choose another "
                              "with --port") from None
        raise OutputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(archive_path, host: str = "127.0.0.1", port: int = 8000, tiles: str | None = None, zones_file=None,
          catalog_url: str | None = None, on_ready=None, workers: int = 1, header_timeout_s: float = HEADER_TIMEOUT_S,
          max_connections: int = MAX_CONNECTIONS, **app_options) -> None:
    """Serve the archive until SIGINT (KeyboardInterrupt after a clean shutdown) or SIGTERM (returns).

    ``workers`` processes share the listening socket (each with its own catalogue connections): more answers
    per second on a machine with more cores. ``on_ready(url)`` is called once the socket listens."""
    from dronectl.errors import InputError
    from dronectl.web.app import create_app

    if not 1 <= workers <= 64:
        raise InputError(f"--workers must be from 1 to 64, got {workers}")
    if not 0.5 <= header_timeout_s <= 300:
        raise InputError(f"--header-timeout must be from 0.5 to 300 seconds, got {header_timeout_s}")
    if not 8 <= max_connections <= 100_000:
        raise InputError(f"--max-connections must be from 8 to 100000, got {max_connections}")
    max_connections = _fit_descriptors(max_connections, workers)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    names = {host} if host not in ("0.0.0.0", "::", "") else set()
    names |= {"127.0.0.1", "localhost", "[::1]"} if host in LOOPBACK or not names else set()
    allowed = {f"{f'[{n}]' if ':' in n and not n.startswith('[') else n}:{bound}" for n in names}
    try:
        app = create_app(archive_path, catalog_url, zones_file, tiles, allowed_hosts=allowed, **app_options)
    except BaseException:
        sock.close()
        raise
    limits = (header_timeout_s, max_connections)
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:  # a worker: serves until its parent sends SIGTERM (or the terminal SIGINT)
            code = 0
            try:
                _run(app, sock, None, limits)
            except KeyboardInterrupt:
                pass
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        _run(app, sock, on_ready, limits)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            os.waitpid(pid, 0)
        sock.close()


def _fit_descriptors(wanted: int, workers: int) -> int:
    """The connection cap, lowered to what the process may open (each connection is a file descriptor; the
    catalogue, blobs and logs need some): raise the soft limit to the hard one first."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536),
                                                        hard))
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return wanted
    if soft == resource.RLIM_INFINITY:
        return wanted
    # kept free: files (catalogue, blobs, logs) and one burst of accepts (connections are capped only once
    # accepted, and the event loop accepts up to a backlog of them at a time)
    return max(8, min(wanted, soft - 64 - 4 * _accept_burst(soft)))  # accepted, not yet seen, closing


def _accept_burst(soft_limit: int) -> int:
    """How many connections the event loop may accept in one go (uvicorn's backlog)."""
    return max(8, min(128, soft_limit // 8))


def _run(app, sock: socket.socket, on_ready, limits=(HEADER_TIMEOUT_S, MAX_CONNECTIONS)) -> None:
    import resource

    import uvicorn

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    burst = _accept_burst(soft if soft != resource.RLIM_INFINITY else 1 << 20)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", server_header=False,
                            backlog=burst,
                            h11_max_incomplete_event_size=64 * 1024, timeout_graceful_shutdown=GRACE_S,
                            timeout_keep_alive=min(KEEP_ALIVE_S, limits[0]), http=_protocol(*limits))
    server = _Server(config)
    with _stop_on_signals(server):  # before saying we are ready: a signal right after stops us cleanly
        if on_ready is not None:
            on_ready(url_of(sock))
        server.run(sockets=[sock])
    if server.interrupted:
        raise KeyboardInterrupt


@contextmanager
def _stop_on_signals(server):
    """SIGINT and SIGTERM ask the server to stop (a second SIGINT forces it); the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(sig, frame):
        server.interrupted = server.interrupted or sig == signal.SIGINT
        server.force_exit = server.should_exit and sig == signal.SIGINT
        if not server.should_exit:
            deadline = threading.Timer(STOP_DEADLINE_S, _exit_now, (130 if sig == signal.SIGINT else 0,))
            deadline.daemon = True
            deadline.start()
        server.should_exit = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _exit_now(code: int) -> None:
    """The stop deadline: requests still running (a thread cannot be cancelled) do not hold the process."""
    sys.stderr.write(f"dronectl serve: requests still running {STOP_DEADLINE_S} s after the stop signal; "
                     "exiting without them\n")
    sys.stderr.flush()
    os._exit(code)


def _Server(config):
    """A uvicorn.Server that leaves signals to :func:`_stop_on_signals` (and so re-raises none after), and logs
    the event loop's errors (accept failing for want of file descriptors) once a minute per kind."""
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        interrupted = False

        @contextmanager
        def capture_signals(self):
            yield

        async def serve(self, sockets=None):
            asyncio.get_running_loop().set_exception_handler(_quiet_loop_errors())
            await super().serve(sockets)

    return Server(config)


def _quiet_loop_errors(every_s: float = 60.0):
    last: dict[str, float] = {}
    skipped: dict[str, int] = {}

    def handler(loop, context):
        what = str(context.get("message", "event loop error"))
        exc = context.get("exception")
        key = f"{what}: {type(exc).__name__}" if exc else what
        now = time.monotonic()
        if now - last.get(key, -every_s) < every_s:
            skipped[key] = skipped.get(key, 0) + 1
            return
        last[key] = now
        more = f" ({skipped.pop(key)} more like it since the last report)" if skipped.get(key) else ""
        log.error("%s%s%s", what, f": {exc}" if exc else "", more)

    return handler


def _protocol(header_timeout_s: float, max_connections: int):
    """uvicorn's h11 protocol with TCP_NODELAY, a header timeout and a connection cap."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        _timer = None
        _armed_cycle = None

        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            self._opened = time.monotonic()
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                idle = [c for c in self.connections if c is not self and (c.cycle is None or c.cycle.response_complete)]
                victim = min(idle, key=lambda c: c._opened) if idle else self
                victim._drop()
                if victim is self:
                    return
            self._arm()

        def _arm(self):
            if self._timer is not None:
                self._timer.cancel()
            self._armed_cycle = self.cycle
            self._timer = self.loop.call_later(header_timeout_s, self._header_deadline)

        def _header_deadline(self):
            self._timer = None
            c = self.cycle  # no request's headers since the connection or the last answer: closed
            if c is self._armed_cycle and (c is None or c.response_complete):
                self._drop()

        def _drop(self):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

    return Protocol
