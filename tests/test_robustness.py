"""Never a 500: every GET route, enumerated from the URL map, with odd input and any role.

The same inputs on either database (CI runs the suite on SQLite and on PostgreSQL, which
refuses what SQLite stores: a NUL in text, an integer beyond 64 bits).
"""

from __future__ import annotations

import pytest

from models.auth import Role
from tests.fixtures.app import sample_url
from tests.fixtures.routes import RULES

ODD_NUMBERS = ["0", "99999999999999999999", "-1"]
ODD_STRINGS = ["x", "%00", "ä" * 300, "../../etc/passwd"]
ODD_QUERIES = [
    "",
    "?page=0",
    "?page=99999999999999999999",  # beyond a 64-bit integer
    "?page=abc",
    "?after=99999999999999999999",  # keyset cursors (paging.py)
    "?before=-1&last=1",
    "?after=%C2%B2",
    "?status=nope",
    "?code=" + "x" * 500,
    # Control characters in every kind of value: PostgreSQL refuses a NUL in text, which
    # SQLite stores; a filter or a look-up must answer with a message or a 4xx.
    "?q=%00&status=%00&code=%00&app=%00&ref=%00&department=%00&number=%00",
    "?q=%1B%7F%C2%85&payer=%01&after=%00",
]


def _odd_urls(rule) -> list[str]:
    """The rule's URL with each odd number in its number arguments, then each odd string."""

    urls = {sample_url(rule, number=number) for number in ODD_NUMBERS}
    urls |= {sample_url(rule, text=text) for text in ODD_STRINGS}
    return sorted(urls)


@pytest.mark.parametrize("role", [None, Role.CUSTOMER, Role.STAFF])
@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.rule)
def test_get_routes_never_answer_500(client, auth, make_user, rule, role):
    if role is not None:
        make_user(
            "person@example.com", role=role, org=None if role == Role.STAFF else "Testivirasto"
        )
        auth.login("person@example.com")
    for url in _odd_urls(rule):
        for query in ODD_QUERIES:
            response = client.get(url + query)
            response.get_data()  # a streamed body (an export) is read to its end, as a browser does
            assert response.status_code < 500, f"{url}{query} as {role}: {response.status_code}"
