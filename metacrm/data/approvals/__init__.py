"""Approvals (审批): processes as metadata, requests, the record lock.

* :mod:`.processes` — the definition kind ``approval_process`` and its conditions;
* :mod:`.service` — submit, approve / reject, recall, the inbox and a record's history;
* :mod:`.lock` — the save step refusing edits of a record waiting for approval;
* :mod:`.tables` — requests, step decisions (tasks) and history.
"""

from .processes import APPROVAL_PROCESS, approval_processes
from .service import decide, my_pending, pending_count, recall, record_approvals, submit, submittable

__all__ = [
    "APPROVAL_PROCESS",
    "approval_processes",
    "decide",
    "my_pending",
    "pending_count",
    "recall",
    "record_approvals",
    "submit",
    "submittable",
]
