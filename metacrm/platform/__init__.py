"""The ground every other part stands on.

Configuration, engines and the tenant binding, login identities, sessions and
API tokens, the audit log, errors, and the plugin manager with its hook
specifications. Imports nothing else from metacrm: every other layer imports it.
"""
