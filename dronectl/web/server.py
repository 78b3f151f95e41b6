"""Running the app: bind the socket (a port in use is one clear sentence), uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
from contextlib import contextmanager

from dronectl.errors import OutputError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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
          catalog_url: str | None = None, on_ready=None, workers: int = 1) -> None:
    """Serve the archive until SIGINT (KeyboardInterrupt after a clean shutdown) or SIGTERM (returns).

    ``workers`` processes share the listening socket (each with its own catalogue connections): more answers
    per second on a machine with more cores. ``on_ready(url)`` is called once the socket listens."""
    from dronectl.errors import InputError
    from dronectl.web.app import create_app

    if not 1 <= workers <= 64:
        raise InputError(f"--workers must be from 1 to 64, got {workers}")
    app = create_app(archive_path, catalog_url, zones_file, tiles)
    sock = bind(host, port)
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:  # a worker: serves until its parent sends SIGTERM (or the terminal SIGINT)
            code = 0
            try:
                _run(app, sock, None)
            except KeyboardInterrupt:
                pass
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        _run(app, sock, on_ready)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            os.waitpid(pid, 0)
        sock.close()


def _run(app, sock: socket.socket, on_ready) -> None:
    import uvicorn

    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", server_header=False,
                                    h11_max_incomplete_event_size=64 * 1024, timeout_graceful_shutdown=5))
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
        server.should_exit = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _Server(config):
    """A uvicorn.Server that leaves signals to :func:`_stop_on_signals` (and so re-raises none after)."""
    import uvicorn

    class Server(uvicorn.Server):
        interrupted = False

        @contextmanager
        def capture_signals(self):
            yield

    return Server(config)
