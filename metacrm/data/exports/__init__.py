"""Exports of a list as CSV or XLSX."""
