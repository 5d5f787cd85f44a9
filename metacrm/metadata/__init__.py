"""The metadata engine: definitions and their JSON Schemas, field types,
runtime DDL, the compiled model cache and the record store.

Depends only on :mod:`metacrm.platform`.
"""
