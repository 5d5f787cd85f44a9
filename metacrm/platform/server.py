"""Serving the WSGI app with gunicorn (Linux/macOS), in-process.

``metacrm serve`` and ``metacrm demo`` both come here: one way to serve.
Workers build their own app after fork (no preload), so per-worker state such
as engines and connection pools is created in the worker.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable

# What gunicorn refuses before the app sees a request (request line or
# headers over its limits, malformed HTTP) gets the API's JSON error shape too.
PROTOCOL_ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    501: "not_implemented",
}


def protocol_error_response(status: int, reason: str, message: str) -> bytes:
    """The raw HTTP response for an error gunicorn raises while parsing."""
    code = PROTOCOL_ERROR_CODES.get(status, "internal_error")
    body = json.dumps({"error": {"code": code, "message": message or reason, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


# The defaults of `metacrm serve` (docs/operations.md, "Serving"; measured
# with bench/load.py, docs/performance.md "Issue 16, item 4").
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8
KEEPALIVE_SECONDS = 5
WORKER_TIMEOUT_SECONDS = 120
# Linux spreads connections over the workers' own listening sockets
# (SO_REUSEPORT); elsewhere the option does not balance, so it stays off.
REUSE_PORT = sys.platform.startswith("linux")


def gunicorn_settings(
    *,
    host: str,
    port: int,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    access_log: bool = True,
    control_socket: str | None = None,
) -> dict:
    """The gunicorn settings ``run_gunicorn`` applies, by setting name.

    * ``reuse_port``: each worker listens on a socket of its own and the
      kernel spreads new connections over them. With one shared socket the
      worker that wakes first accepts, and a burst of keep-alive clients can
      end up nearly all on one worker while the other idles (bench/load.py
      saw 18 requests per client on one and 292 on the other).
    * the control socket (gunicorn 25+, for ``gunicornc``) defaults to one
      path per user, so a second instance on the machine would take over the
      first one's socket and remove it when it stops: off unless a path of
      the instance's own is given.
    """
    settings = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "keepalive": KEEPALIVE_SECONDS,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "preload_app": False,
        "reuse_port": REUSE_PORT,
    }
    if access_log:
        settings["accesslog"] = "-"
    if control_socket:
        settings["control_socket"] = control_socket
    else:
        settings["control_socket_disable"] = True
    return settings


def ensure_port_free(host: str, port: int) -> None:
    """Raise OSError if something listens on host:port already. With
    ``reuse_port`` a second server would otherwise share the port with the
    first one silently (both set SO_REUSEPORT); this probe does not set it,
    so it fails on a port that any server holds."""
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise OSError(exc.errno, f"{host}:{port} is in use (another metacrm serve?): {exc.strerror}") from None


def run_gunicorn(
    app_factory: Callable,
    *,
    host: str,
    port: int,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    access_log: bool = True,
    control_socket: str | None = None,
) -> None:
    from gunicorn import util
    from gunicorn.app.base import BaseApplication

    def write_json_error(sock, status_int, reason, mesg):
        util.write_nonblock(sock, protocol_error_response(status_int, reason, mesg))

    # gunicorn writes its protocol errors through this one function; it has no
    # setting for the format, so in our own server process it answers JSON.
    util.write_error = write_json_error
    settings = gunicorn_settings(
        host=host, port=port, workers=workers, threads=threads, access_log=access_log, control_socket=control_socket
    )
    if settings["reuse_port"]:
        ensure_port_free(host, port)

    class _Server(BaseApplication):
        def load_config(self):
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self):
            return app_factory()

    _Server().run()
