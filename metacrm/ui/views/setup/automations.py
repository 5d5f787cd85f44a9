"""Automation rules (WHEN … IF … THEN …) with a dry run, the run log and the outbox."""
