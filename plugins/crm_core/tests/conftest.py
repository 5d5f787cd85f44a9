"""The suite's database fixtures (SQLite always, PostgreSQL when
METACRM_TEST_DATABASE_URL is set) for the plugin's own tests."""

from tests.conftest import _cheap_password_hashing, backend, instance  # noqa: F401 - pytest fixtures
