"""The rule language (expressions, formulas, validation and automation rules).

Depends on :mod:`metacrm.metadata` and :mod:`metacrm.platform`; contributes to
the metadata engine only through the same hooks a plugin uses.
"""
