"""Course organisers: staff add and change them (merchant ID and commission class, each
change in the audit log), and choose a course's organiser, or the training institute."""

from __future__ import annotations

import html as html_lib
import re

import pytest
import sqlalchemy as sa

from extensions import db
from models.audit import AuditAction, AuditEvent
from models.training import Course, CourseOrganiser
from services import course_organisers
from tests.fixtures import training_staff as training_staff_fixtures
from tests.fixtures.app import page_link
from tests.fixtures.training_staff import _count, _course, _course_data, _edit_data

make_course_id = training_staff_fixtures.make_course_id
staff = training_staff_fixtures.staff

LIST = "/staff/training/organisers"
TAKEN = "Another organiser has this merchant ID already."
BAD_MERCHANT_ID = "Enter the merchant ID the payment service gave, up to 8 digits."


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config["PAYMENT_COMMISSION_CLASSES"] = {"1": "2.5", "2": "1.9"}
    app_config["PAYMENT_COURSE_MERCHANT_ID"] = "13466"
    return app_config


@pytest.fixture
def make_organiser(app):
    """Add an organiser straight to the database; returns its id."""

    def make(name: str = "Aluehallinnon koulutuskeskus", merchant_id: str = "13467", cls="1"):
        with app.app_context():
            organiser = CourseOrganiser(name=name, merchant_id=merchant_id, commission_class=cls)
            db.session.add(organiser)
            db.session.commit()
            return organiser.id

    return make


def _organisers(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(CourseOrganiser).order_by(CourseOrganiser.id))
        return [(o.name, o.merchant_id, o.commission_class) for o in rows]


def _events(app, action: AuditAction) -> list[tuple[str, str, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.id)
        )
        return [(e.record_type, e.record_id, e.summary, e.actor_email) for e in rows]


def _text(response) -> str:
    return html_lib.unescape(response.get_data(as_text=True))


def _field_error(html: str, field_id: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else None


def _organiser_data(**overrides) -> dict:
    return {
        "name": "Aluehallinnon koulutuskeskus",
        "merchant_id": "13467",
        "commission_class": "1",
        **overrides,
    }


# --- Access -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LIST, "/staff/training/organisers/{id}/edit"])
def test_anonymous_users_are_sent_to_log_in(client, make_organiser, path):
    response = client.get(path.format(id=make_organiser()))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_customers_can_neither_see_nor_change_organisers(
    app, client, auth, make_user, make_organiser
):
    organiser_id = make_organiser()
    make_user("maija@example.com")
    auth.login("maija@example.com")
    edit = f"/staff/training/organisers/{organiser_id}/edit"
    assert client.get(LIST).status_code == 403
    assert client.get(edit).status_code == 403
    assert client.post(LIST, data=_organiser_data(merchant_id="13468")).status_code == 403
    assert client.post(edit, data=_organiser_data(name="Toinen")).status_code == 403
    assert _organisers(app) == [("Aluehallinnon koulutuskeskus", "13467", "1")]


def test_the_course_list_links_to_the_organisers(client, staff):
    listing = client.get("/staff/training/").get_data(as_text=True)
    assert f'href="{LIST}"' in listing
    page = client.get(LIST)
    assert page.status_code == 200
    text = _text(page)
    assert "No course organisers yet." in text
    assert "merchant ID 13466" in text  # the institute's own
    assert '<option value="1">1 (commission 2.5 %)</option>' in text
    assert '<option value="2">2 (commission 1.9 %)</option>' in text


def test_an_unknown_organiser_is_not_found(client, staff):
    assert client.get("/staff/training/organisers/999999/edit").status_code == 404


# --- Adding -----------------------------------------------------------------------------


def test_staff_add_an_organiser(app, client, staff):
    response = client.post(LIST, data=_organiser_data(commission_class="2"))
    assert response.status_code == 303
    assert response.headers["Location"] == LIST
    assert _organisers(app) == [("Aluehallinnon koulutuskeskus", "13467", "2")]
    page = _text(client.get(LIST))
    assert "The organiser Aluehallinnon koulutuskeskus was added." in page
    assert "Aluehallinnon koulutuskeskus" in page and "13467" in page
    with app.app_context():
        organiser_id = db.session.scalar(sa.select(CourseOrganiser.id))
    assert f'href="/staff/training/organisers/{organiser_id}/edit"' in page
    assert _events(app, AuditAction.COURSE_ORGANISER_ADDED) == [
        (
            "course_organiser",
            str(organiser_id),
            "merchant ID 13467, commission class 2",
            staff.email,
        )
    ]


def test_the_name_and_merchant_id_are_trimmed(app, client, staff):
    response = client.post(LIST, data=_organiser_data(name="  Keskus  ", merchant_id=" 42 "))
    assert response.status_code == 303
    assert _organisers(app) == [("Keskus", "42", "1")]


def test_a_merchant_id_taken_is_refused_and_nothing_saved(app, client, staff, make_organiser):
    make_organiser("Ensimmäinen", "13467")
    response = client.post(LIST, data=_organiser_data(name="Toinen"))
    assert response.status_code == 422
    text = _text(response)
    assert 'class="error-summary"' in text and 'href="#merchant_id"' in text
    assert _field_error(text, "merchant_id").strip().endswith(TAKEN)
    assert 'value="Toinen"' in text  # what was typed is kept
    assert _organisers(app) == [("Ensimmäinen", "13467", "1")]
    assert _events(app, AuditAction.COURSE_ORGANISER_ADDED) == []


def test_a_merchant_id_taken_at_the_same_instant_is_refused_not_a_500(
    app, client, staff, make_organiser, monkeypatch
):
    # Another request saved the merchant ID between the check and the insert: the unique
    # constraint refuses it in a savepoint, and the page says so.
    make_organiser("Ensimmäinen", "13467")
    monkeypatch.setattr(course_organisers, "merchant_id_taken", lambda *args, **kwargs: False)
    response = client.post(LIST, data=_organiser_data(name="Toinen"))
    assert response.status_code == 422
    assert TAKEN in _text(response)
    assert _organisers(app) == [("Ensimmäinen", "13467", "1")]
    assert _events(app, AuditAction.COURSE_ORGANISER_ADDED) == []


@pytest.mark.parametrize(
    "merchant_id",
    ["", " ", "12a45", "123456789", "-1", "1 234", "1.5", "١٢٣", "１２３", "12\n3"],
    ids=[
        "empty",
        "blank",
        "letters",
        "nine-digits",
        "sign",
        "space",
        "dot",
        "arabic",
        "wide",
        "nl",
    ],
)
def test_a_bad_merchant_id_is_refused(app, client, staff, merchant_id):
    response = client.post(LIST, data=_organiser_data(merchant_id=merchant_id))
    assert response.status_code == 422
    text = _text(response)
    assert 'href="#merchant_id"' in text
    error = _field_error(text, "merchant_id")
    assert error is not None and (BAD_MERCHANT_ID in error or "control" in error), error
    tag = re.search(r'<input[^>]*id="merchant_id"[^>]*>', text).group(0)
    assert 'aria-invalid="true"' in tag and 'inputmode="numeric"' in tag
    assert _count(app, CourseOrganiser) == 0


def test_eight_digits_are_a_merchant_id(app, client, staff):
    assert client.post(LIST, data=_organiser_data(merchant_id="12345678")).status_code == 303
    assert _organisers(app)[0][1] == "12345678"


@pytest.mark.parametrize("commission_class", ["3", "", "1; drop", "2.5"])
def test_an_unknown_commission_class_is_refused(app, client, staff, commission_class):
    response = client.post(LIST, data=_organiser_data(commission_class=commission_class))
    assert response.status_code == 422
    assert 'href="#commission_class"' in _text(response)
    assert _count(app, CourseOrganiser) == 0


@pytest.mark.parametrize(
    ("name", "ok"), [("", False), (" ", False), ("x" * 128, True), ("x" * 129, False)]
)
def test_the_name_is_required_and_bounded(app, client, staff, name, ok):
    response = client.post(LIST, data=_organiser_data(name=name))
    assert response.status_code == (303 if ok else 422)
    assert _count(app, CourseOrganiser) == int(ok)
    if not ok:
        assert 'href="#name"' in _text(response)


# --- Changing -----------------------------------------------------------------------------


def test_staff_change_an_organiser(app, client, staff, make_organiser):
    organiser_id = make_organiser()
    edit = f"/staff/training/organisers/{organiser_id}/edit"
    form = _text(client.get(edit))
    assert 'value="Aluehallinnon koulutuskeskus"' in form and 'value="13467"' in form
    response = client.post(
        edit, data=_organiser_data(name="Koulutuskeskus", merchant_id="13468", commission_class="2")
    )
    assert response.status_code == 303
    assert response.headers["Location"] == LIST
    assert _organisers(app) == [("Koulutuskeskus", "13468", "2")]
    assert "The organiser was saved." in _text(client.get(LIST))
    [event] = _events(app, AuditAction.COURSE_ORGANISER_CHANGED)
    assert event[:2] == ("course_organiser", str(organiser_id))
    assert event[2] == "name changed; merchant ID: 13467 -> 13468; commission class: 1 -> 2"
    assert "Koulutuskeskus" not in event[2]  # the summary names no name


def test_keeping_the_merchant_id_is_no_clash_and_no_change_is_no_event(
    app, client, staff, make_organiser
):
    organiser_id = make_organiser()
    edit = f"/staff/training/organisers/{organiser_id}/edit"
    assert client.post(edit, data=_organiser_data()).status_code == 303
    assert _events(app, AuditAction.COURSE_ORGANISER_CHANGED) == []
    assert client.post(edit, data=_organiser_data(name="Uusi nimi")).status_code == 303
    assert [e[2] for e in _events(app, AuditAction.COURSE_ORGANISER_CHANGED)] == ["name changed"]


def test_changing_to_a_merchant_id_taken_is_refused(
    app, client, staff, make_organiser, monkeypatch
):
    make_organiser("Ensimmäinen", "13467")
    second = make_organiser("Toinen", "13468")
    edit = f"/staff/training/organisers/{second}/edit"
    response = client.post(edit, data=_organiser_data(name="Toinen!", merchant_id="13467"))
    assert response.status_code == 422
    assert TAKEN in _text(response)
    # And when the check misses it (taken meanwhile): the constraint, in a savepoint.
    monkeypatch.setattr(course_organisers, "merchant_id_taken", lambda *args, **kwargs: False)
    response = client.post(edit, data=_organiser_data(name="Toinen!", merchant_id="13467"))
    assert response.status_code == 422
    assert TAKEN in _text(response)
    assert _organisers(app) == [("Ensimmäinen", "13467", "1"), ("Toinen", "13468", "1")]
    assert _events(app, AuditAction.COURSE_ORGANISER_CHANGED) == []


def test_a_bad_edit_is_shown_again_with_its_errors(app, client, staff, make_organiser):
    organiser_id = make_organiser()
    edit = f"/staff/training/organisers/{organiser_id}/edit"
    response = client.post(edit, data=_organiser_data(merchant_id="abc", commission_class="9"))
    assert response.status_code == 422
    text = _text(response)
    assert 'href="#merchant_id"' in text and 'href="#commission_class"' in text
    assert _organisers(app) == [("Aluehallinnon koulutuskeskus", "13467", "1")]


# --- The list is bounded ------------------------------------------------------------------


def test_the_list_is_paged_by_name(app, client, staff):
    per_page = course_organisers.PER_PAGE
    with app.app_context():
        db.session.add_all(
            CourseOrganiser(
                name=f"Järjestäjä {n:03d}", merchant_id=str(20000 + n), commission_class="1"
            )
            for n in reversed(range(per_page + 5))
        )
        db.session.commit()
    first = client.get(LIST).get_data(as_text=True)
    names = re.findall(r"Järjestäjä \d{3}", first)
    assert names == [f"Järjestäjä {n:03d}" for n in range(per_page)]
    following = page_link(first)
    assert following is not None
    second = client.get(following).get_data(as_text=True)
    assert re.findall(r"Järjestäjä \d{3}", second) == [
        f"Järjestäjä {n:03d}" for n in range(per_page, per_page + 5)
    ]
    assert page_link(second) is None


# --- A course's organiser ---------------------------------------------------------------


def _organiser_options(html: str) -> list[tuple[str, str]]:
    select = re.search(r'<select[^>]*id="organiser_id".*?</select>', html, re.S).group(0)
    return [
        (value, html_lib.unescape(label))
        for value, label in re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select)
    ]


def test_a_course_is_saved_with_an_organiser_or_with_none(app, client, staff, make_organiser):
    organiser_id = make_organiser()
    form = client.get("/staff/training/courses/new").get_data(as_text=True)
    assert _organiser_options(form) == [
        ("", "The training institute (merchant ID 13466)"),
        (str(organiser_id), "Aluehallinnon koulutuskeskus (merchant ID 13467)"),
    ]
    response = client.post(
        "/staff/training/courses/new", data=_course_data(organiser_id=str(organiser_id))
    )
    assert response.status_code == 303
    with app.app_context():
        course_id = db.session.scalar(sa.select(Course.id))
    assert _course(app, course_id).organiser_id == organiser_id
    page = _text(client.get(f"/staff/training/courses/{course_id}"))
    assert "Aluehallinnon koulutuskeskus (merchant ID 13467)" in page
    assert f'href="/staff/training/organisers/{organiser_id}/edit"' in page
    # The edit form shows it chosen; sent back with the institute, the course is its own.
    edit = f"/staff/training/courses/{course_id}/edit"
    shown = client.get(edit).get_data(as_text=True)
    assert re.search(
        rf'<option[^>]*selected[^>]*value="{organiser_id}"|<option[^>]*value="{organiser_id}"[^>]*selected',
        shown,
    )
    course = _course(app, course_id)
    assert client.post(edit, data=_edit_data(course, organiser_id="")).status_code == 303
    assert _course(app, course_id).organiser_id is None
    page = _text(client.get(f"/staff/training/courses/{course_id}"))
    assert "The training institute (merchant ID 13466)" in page


def test_a_course_sent_without_the_field_is_the_institutes(app, client, staff, make_organiser):
    make_organiser()
    assert client.post("/staff/training/courses/new", data=_course_data()).status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(Course.organiser_id)) is None


@pytest.mark.parametrize("value", ["999999", "abc", "-1", "1.0", " 1", "١", "99999999999999999999"])
def test_an_unknown_organiser_is_refused_by_the_course_form(
    app, client, staff, make_organiser, value
):
    organiser_id = make_organiser()
    if value == " 1":
        value = f" {organiser_id}"
    response = client.post("/staff/training/courses/new", data=_course_data(organiser_id=value))
    assert response.status_code == 200  # as the course form's other errors
    text = _text(response)
    assert 'href="#organiser_id"' in text
    assert _count(app, Course) == 0


def test_the_course_form_offers_a_bounded_list_with_the_courses_own(
    app, client, staff, make_organiser, make_course_id, monkeypatch
):
    monkeypatch.setattr(course_organisers, "MAX_CHOICES", 2)
    ids = [make_organiser(f"Järjestäjä {n}", str(30000 + n)) for n in range(4)]
    course_id = make_course_id(organiser_id=ids[3])  # last by name
    new = client.get("/staff/training/courses/new").get_data(as_text=True)
    assert [v for v, _label in _organiser_options(new)] == ["", str(ids[0]), str(ids[1])]
    edit = client.get(f"/staff/training/courses/{course_id}/edit").get_data(as_text=True)
    assert [v for v, _label in _organiser_options(edit)] == [
        "",
        str(ids[0]),
        str(ids[1]),
        str(ids[3]),
    ]
    # Saved again as it was, the course keeps its organiser.
    course = _course(app, course_id)
    response = client.post(
        f"/staff/training/courses/{course_id}/edit",
        data=_edit_data(course, organiser_id=str(ids[3])),
    )
    assert response.status_code == 303
    assert _course(app, course_id).organiser_id == ids[3]


# --- The demo ---------------------------------------------------------------------------


def test_the_demo_has_an_organiser_with_a_course_of_its_own(app, runner):
    for _ in range(2):
        result = runner.invoke(args=["seed-demo", "--quiet"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        [organiser] = db.session.scalars(sa.select(CourseOrganiser)).all()
        assert (organiser.name, organiser.merchant_id, organiser.commission_class) == (
            "Aluehallinnon koulutuskeskus",
            "13467",
            "1",
        )
        organised = db.session.scalars(
            sa.select(Course).where(Course.organiser_id == organiser.id)
        ).all()
        assert [c.title for c in organised] == ["Excel talousammattilaisille"]
        assert organised[0].price > 0
        for title in ("Hankintalain perusteet", "Valtion talousarvio ja kirjanpito"):
            course = db.session.scalar(sa.select(Course).where(Course.title == title))
            assert course.organiser_id is None
