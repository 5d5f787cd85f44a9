"""Reports as metadata (kind ``report``), run in SQL within the viewer's scope.

The entry point is :func:`run_report` (:mod:`.engine`); the definition kind
is :data:`.kind.REPORT`.
"""

from .engine import RunOptions, run_report

__all__ = ["RunOptions", "run_report"]
