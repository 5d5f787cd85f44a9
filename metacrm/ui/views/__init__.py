"""The screens, one module per kind of screen, all on the ``ui`` blueprint
(:mod:`metacrm.ui.blueprint`). Importing this package registers every route."""

from metacrm.ui.views import (  # noqa: F401
    account,
    auth,
    board,
    collaboration,
    dashboards,
    duplicates,
    exports,
    forecast,
    forms,
    home,
    imports,
    invitations,
    lists,
    notifications,
    pools,
    records,
    reports,  # h3: reports
    search,
    setup,
    survey,
)
