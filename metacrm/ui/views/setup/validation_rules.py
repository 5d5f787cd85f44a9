"""Validation rules of an object, with live checking."""
