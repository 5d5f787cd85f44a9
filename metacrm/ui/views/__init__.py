"""The screens, one module per kind of screen, all on the ``ui`` blueprint
(:mod:`metacrm.ui.blueprint`). Importing this package registers every route."""

from metacrm.ui.views import (  # noqa: F401
    account,
    auth,
    board,
    dashboards,
    forecast,
    forms,
    home,
    lists,
    notifications,
    pools,
    records,
    search,
    setup,
)
