"""metacrm: a low-code, metadata-driven CRM platform.

Public API: :func:`create_app`, the Flask application factory. It is imported
lazily, so a plugin importing ``metacrm.plugins`` does not load the web app.
"""

__all__ = ["create_app"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "create_app":
        from metacrm.app import create_app

        return create_app
    raise AttributeError(f"module 'metacrm' has no attribute {name!r}")
