"""The admin designer (``/setup/…``): one module per part of setup, every
route declared with :func:`metacrm.ui.setup.setup_route` so none escapes
the manage-metadata / manage-access check. Importing this package
registers every route."""

from metacrm.ui.views.setup import (  # noqa: F401
    access,
    approval_processes,
    apps,
    automations,
    duplicate_rules,
    governance,
    home,
    layouts,
    list_views,
    marketing,
    objects,
    plugins,
    validation_rules,
)
