"""The screens, one module per kind of screen, all on the ``ui`` blueprint
(:mod:`metacrm.ui.blueprint`). Importing this package registers every route."""

from metacrm.ui.views import account, auth, home, notifications, search  # noqa: F401  # noqa: F401
from metacrm.ui.views import auth, home  # noqa: F401
from metacrm.ui.views import board, lists  # noqa: F401  (H2: list and kanban)
from metacrm.ui.views import auth, home, records  # noqa: F401
from metacrm.ui.views import auth, forms, home  # noqa: F401
from metacrm.ui.views import auth, home, pools  # noqa: F401
