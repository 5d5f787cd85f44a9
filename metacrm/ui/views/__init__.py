"""The screens, one module per kind of screen, all on the ``ui`` blueprint
(:mod:`metacrm.ui.blueprint`). Importing this package registers every route."""

from metacrm.ui.views import auth, board, home, lists  # noqa: F401
