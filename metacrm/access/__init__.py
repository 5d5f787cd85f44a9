"""The authorization layer on Casbin: roles, object/field permissions, record
scopes compiled to SQL, sharing and public pools.

Implements the guard protocol the record store demands; depends on
:mod:`metacrm.rules`, :mod:`metacrm.metadata` and :mod:`metacrm.platform`.
"""
