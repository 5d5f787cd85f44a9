"""metacrm: a low-code, metadata-driven CRM platform.

Public API: :func:`create_app`, the Flask application factory.
"""

from metacrm.app import create_app

__all__ = ["create_app"]
__version__ = "0.1.0"
