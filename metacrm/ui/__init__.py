"""Server-rendered screens (Flask + Jinja + htmx): sign-in, the generated CRUD
screens and the admin designer, with their templates and vendored static files.
"""
