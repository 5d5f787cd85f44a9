"""Reports as metadata (kind ``report``), run in SQL within the viewer's scope.

The entry point is :func:`run_report` (:mod:`.engine`); :func:`records_query`
gives the list query of a group's records; the definition kind is
:data:`.kind.REPORT`; :mod:`.service` lists, finds, saves and deletes
reports for a user; :mod:`.export` writes a result as CSV or XLSX.
"""

from .engine import RunOptions, records_query, run_report

__all__ = ["RunOptions", "records_query", "run_report"]
