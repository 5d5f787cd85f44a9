"""Collaboration on any record: comments with @mentions and followers.

- :mod:`.comments` — list, add, edit and delete the comments of a record;
  mentions are resolved to members who can read the record and notified.
- :mod:`.follows` — follow and unfollow a record; the save step that tells
  followers about changes they may read.
- :mod:`.tables` — the tenant tables (Alembic branch ``collaboration``,
  revisions ``co…``).

Framework-free (no Flask): the REST API (``api/collaboration.py``) and the
screens (the record page's comment box and follow toggle) call it, and the
timeline (:mod:`metacrm.plugins.timeline`) reads the comments. Everything
goes through the caller's guard: a record the caller may not read is a 404.
"""
