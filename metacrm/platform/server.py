"""Serving the WSGI app with gunicorn (Linux/macOS), in-process.

``metacrm serve`` and ``metacrm demo`` both come here: one way to serve.
Workers build their own app after fork (no preload), so per-worker state such
as engines and a Redis watcher is created in the worker.
"""

from __future__ import annotations

import json
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


def run_gunicorn(
    app_factory: Callable, *, host: str, port: int, workers: int = 1, threads: int = 4, access_log: bool = True
) -> None:
    from gunicorn import util
    from gunicorn.app.base import BaseApplication

    def write_json_error(sock, status_int, reason, mesg):
        util.write_nonblock(sock, protocol_error_response(status_int, reason, mesg))

    # gunicorn writes its protocol errors through this one function; it has no
    # setting for the format, so in our own server process it answers JSON.
    util.write_error = write_json_error

    class _Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 120)
            self.cfg.set("preload_app", False)
            if access_log:
                self.cfg.set("accesslog", "-")

        def load(self):
            return app_factory()

    _Server().run()
