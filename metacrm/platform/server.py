"""Serving the WSGI app with gunicorn (Linux/macOS), in-process.

``metacrm serve`` and ``metacrm demo`` both come here: one way to serve.
Workers build their own app after fork (no preload), so per-worker state such
as engines and a Redis watcher is created in the worker.
"""

from __future__ import annotations

from collections.abc import Callable


def run_gunicorn(
    app_factory: Callable, *, host: str, port: int, workers: int = 1, threads: int = 4, access_log: bool = True
) -> None:
    from gunicorn.app.base import BaseApplication

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
