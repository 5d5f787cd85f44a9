"""The screens, one module per kind of screen, all on the ``ui`` blueprint
(:mod:`metacrm.ui.blueprint`). Importing this package registers every route."""

from metacrm.ui.views import (  # noqa: F401
    account,
    approvals,
    auth,
    board,
    collaboration,
    conversion,  # h1: lead conversion
    dashboards,
    documents,
    duplicates,
    exports,
    forecast,
    forms,
    home,
    imports,
    invitations,
    lists,
    marketing,
    notifications,
    pools,
    records,
    reports,  # h3: reports
    search,
    setup,
    survey,
)
