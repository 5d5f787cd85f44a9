"""Marketing: segments, e-mail templates, mass e-mail with tracking and
unsubscribe, campaign members, public web-to-lead forms (docs/marketing.md).

Framework-free like the rest of ``metacrm.data``: the screens and the REST
API call :mod:`.service`; the public routes only verify a token or name a
form and hand over to it.
"""
