"""URL rules: builders compiled once a process and shared by every app's same rule."""

from __future__ import annotations

from flask import Flask, url_for

import routing


def _app(name: str) -> Flask:
    app = Flask(name)
    app.url_rule_class = routing.Rule
    app.url_map.converters["id"] = routing.IdConverter
    app.add_url_rule("/courses/<id:course_id>/enrol", "enrol", lambda course_id: "")
    app.add_url_rule("/files/<path:name>", "file", lambda name: "")
    page = lambda number: ""  # noqa: E731  (one view, two rules)
    app.add_url_rule("/page/", "page", page, defaults={"number": 1})
    app.add_url_rule("/page/<int:number>", "page", page)
    return app


def test_two_apps_build_the_same_urls_from_one_compiled_builder():
    first, second = _app("first"), _app("second")
    rules = [next(first.url_map.iter_rules("enrol")), next(second.url_map.iter_rules("enrol"))]
    assert rules[0] is not rules[1]
    assert rules[0]._build.__func__ is rules[1]._build.__func__
    for app in (first, second):
        with app.test_request_context():
            assert url_for("enrol", course_id=7) == "/courses/7/enrol"
            assert url_for("enrol", course_id=7, lang="sv") == "/courses/7/enrol?lang=sv"
            assert url_for("file", name="a b/c.pdf") == "/files/a%20b/c.pdf"
            assert url_for("page") == "/page/"
            assert url_for("page", number=3) == "/page/3"


def test_a_rule_with_defaults_compiles_its_own_builder():
    first, second = _app("first"), _app("second")
    with_default = [
        next(r for r in app.url_map.iter_rules("page") if r.defaults) for app in (first, second)
    ]
    assert with_default[0]._build.__func__ is not with_default[1]._build.__func__


def test_an_id_past_a_32_bit_column_is_not_found():
    client = _app("ids").test_client()
    assert client.get("/courses/2147483647/enrol").status_code == 200
    assert client.get("/courses/2147483648/enrol").status_code == 404
    assert client.get("/courses/0/enrol").status_code == 404
