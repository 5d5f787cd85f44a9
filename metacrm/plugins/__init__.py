"""The public plugin API and metadata packages.

Plugin authors import from here: :data:`hookimpl` marks their hook
implementations. Discovery, install, upgrade and uninstall of metadata
packages live in this package too.
"""

from metacrm.platform.hooks import hookimpl

__all__ = ["hookimpl"]
