"""Duplicate rules, checks on save and import, and merges.

* :mod:`.rules` — the definition kind ``duplicate_rule``;
* :mod:`.matching` — :func:`find_duplicates` (for the save step, the import
  and the API);
* :mod:`.checks` — the save step that warns or blocks on create and edit;
* :mod:`.merge` — :func:`merge` of two or three records.
"""

from .checks import allow_duplicates, reset_allowed
from .matching import Match, find_duplicates
from .merge import merge

__all__ = ["Match", "allow_duplicates", "find_duplicates", "merge", "reset_allowed"]
