"""Markup rendered once per distinct input and reused, per process: the top
bar (ui.shell.navbar) and a list page around its results (ui.views.lists).
Each is a pure function of a key its caller builds from everything the
markup reads; what differs from page to page for the same key (the CSRF
token, signed with a timestamp) is cached as a placeholder and put in on
the way out."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from flask import g
from flask_wtf.csrf import generate_csrf

from metacrm.platform.caches import LruDict

CSRF_PLACEHOLDER = "\x00csrf\x00"


def placeholder_csrf_token() -> str:
    """Stands for ``csrf_token()`` while markup to be cached is rendered."""
    return CSRF_PLACEHOLDER


class RenderedMarkup:
    """Rendered markup by key: bounded (least recently used goes first),
    shared by a worker's threads."""

    def __init__(self, size: int):
        self._items: LruDict[Hashable, str] = LruDict(size)

    def get(self, key: Hashable, render: Callable[[], str]) -> str:
        """The markup for ``key`` with this request's CSRF token in it.
        ``render()`` makes it when it is not kept; it must render
        ``csrf_token()`` as :func:`placeholder_csrf_token` does."""
        markup = self._items.get_or_build(key, lambda: _without_token(render()))
        if CSRF_PLACEHOLDER in markup:
            markup = markup.replace(CSRF_PLACEHOLDER, generate_csrf())
        return markup

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


def _without_token(markup: str) -> str:
    """``markup`` with this request's CSRF token as the placeholder: kept
    markup that holds other kept markup (the list page holds the top bar)
    got that one's token put in."""
    token = g.get("csrf_token")  # flask-wtf's, once generate_csrf() ran in this request
    return markup.replace(token, CSRF_PLACEHOLDER) if token else markup
