"""The suite's hooks; its fixtures are the modules of tests/fixtures/, loaded here."""

from __future__ import annotations

import pytest

# The helpers of tests/fixtures/ fail with pytest's explanations, as the tests do.
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.users",
    "tests.fixtures.mail",
    "tests.fixtures.browser",
    "tests.fixtures.training",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use no test database: they need not run again on PostgreSQL
    (CI's PostgreSQL pass deselects them, `-m "not database_free"`)."""
    for item in items:
        if "database_url" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database_free)


def __getattr__(name: str):
    """bench/outbox_delivery.py takes `free_port` from here (imported when asked for, so
    that pytest loads tests.fixtures.app as a plugin first, its asserts rewritten)."""
    if name == "free_port":
        from tests.fixtures.app import free_port

        return free_port
    raise AttributeError(name)
