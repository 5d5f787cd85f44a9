"""Revisions with diff and rollback, the recycle bin, the audit log, plugins and the organisation's settings."""
