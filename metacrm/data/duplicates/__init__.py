"""Duplicate rules, checks on save and import, and merges."""
