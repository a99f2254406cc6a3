"""What every form of the portal shares (forms.PortalMeta, forms.validators): no control
character reaches the database, every number has bounds its column holds, an employee's
birth date is a working age's, and WTForms' own messages speak the page's language."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from stdnum.no import fodselsnummer
from werkzeug.datastructures import MultiDict
from wtforms import (
    DateField,
    DateTimeField,
    DecimalField,
    FieldList,
    FileField,
    FloatField,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import RadioField
from wtforms.form import BaseForm
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Regexp

import forms
from extensions import db
from forms import PortalForm
from forms.validators import MAX_AMOUNT, Bounds, LocalDecimalField, NoControlCharacters
from models.auth import Role
from services import identity, portal
from tests.fixtures.users import PASSWORD

LANGUAGES = ["fi", "sv", "nb"]
LINE = str(NoControlCharacters().message)
MULTILINE = str(NoControlCharacters(multiline=True).message)
INT32 = 2**31 - 1
ENGLISH = {"Accept-Language": "en"}  # the messages compared with are the English ones


def portal_forms() -> list[type]:
    """Every form class of forms/, the portal's base form's subclasses."""
    found = []
    for module in pkgutil.iter_modules(forms.__path__):
        members = vars(importlib.import_module(f"forms.{module.name}")).values()
        found += [
            cls
            for cls in members
            if inspect.isclass(cls)
            and issubclass(cls, PortalForm)
            and cls.__module__ == f"forms.{module.name}"
        ]
    return found


def all_fields(form: BaseForm):
    """The form's fields, those of its subforms and lists included."""
    for field in form:
        if isinstance(field, FormField):
            yield from all_fields(field.form)
        elif isinstance(field, FieldList):
            for entry in field:
                yield from all_fields(entry.form) if isinstance(entry, FormField) else [entry]
        else:
            yield field


def login(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    assert response.status_code in (302, 303), email
    return client


# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.


@pytest.fixture
def forms_alone(app: Flask) -> Flask:
    """The app without app.py's blanket 400 for a NUL anywhere in the request: what the
    forms do themselves (the hook is to keep only the path)."""
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [f for f in hooks if f.__name__ != "refuse_nul_bytes"]
    return app


def staff_client(app: Flask, make_user, language: str = "en") -> FlaskClient:
    email = f"kaisa.{language}@example.com"
    make_user(email, role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa", language=language)
    return login(app, email)


def invoicer(app: Flask, make_user, language: str = "en") -> FlaskClient:
    from services import accounts

    email = f"tiina.{language}@example.com"
    make_user(email, org="Toiminimi Testinen", name="Tiina", language=language)
    with app.app_context():
        accounts.user_by_email(email).invoicing_number = "100102"
        db.session.commit()
    return login(app, email)


def course_data(**overrides) -> dict:
    return {
        "title": "Julkiset hankinnat",
        "topic": "Hankinnat",
        "description": "Perusteet",
        "starts_at": "2027-03-01T09:00",
        "ends_at": "2027-03-01T16:00",
        "place": "Helsinki",
        "price": "250.00",
        "capacity": "20",
        "enrolment_deadline": "2027-02-15T16:00",
        "cancellation_deadline": "2027-02-15T16:00",
        "is_open": "y",
        **overrides,
    }


def invoice_data(**overrides) -> dict:
    return {
        "delivery_method": "sahkoposti",
        "payer_name": "Asiakas Oy",
        "payer_street": "Esimerkkikatu 5",
        "payer_postcode": "00500",
        "payer_city": "Helsinki",
        "payer_country": "FI",
        "payer_email": "maksaja@example.com",
        "invoice_date": date.today().isoformat(),
        "payment_days": "14",
        "lines-0-description": "Konsultointi",
        "lines-0-quantity": "2",
        "lines-0-unit": "h",
        "lines-0-unit_price": "50,00",
        "lines-0-vat_percent": "25.5",
        "action": "save",
        **overrides,
    }


def field_error(html: str, field_id: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    if match is None:
        return None
    import html as html_module

    words = html_module.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split()
    return " ".join(words).replace("Error: ", "")


def count(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# ---------------------------------------------------------------- control characters


@pytest.mark.parametrize("cls", portal_forms(), ids=lambda cls: cls.__name__)
def test_every_text_field_of_every_form_refuses_a_nul(app, cls):
    with app.test_request_context("/", method="POST", headers=ENGLISH):
        names = [f.name for f in all_fields(cls(formdata=None, meta={"csrf": False}))]
        form = cls(formdata=MultiDict({name: "a\x00b" for name in names}), meta={"csrf": False})
        form.validate()
        for field in all_fields(form):
            unchecked = PasswordField | FileField | HiddenField  # see forms.PortalMeta
            if isinstance(field, unchecked) or not isinstance(field.data, str):
                continue  # a password is only hashed; a number or a date is no text
            expected = MULTILINE if isinstance(field, TextAreaField) else LINE
            assert expected in [str(error) for error in field.errors], field.name


@pytest.mark.parametrize(
    "typed, refused",
    [
        ("Rivi 1\r\n\tRivi 2\n", False),  # a textarea keeps its lines and tabs
        ("Rivi\x0b2", True),
        ("Rivi\x7f", True),
        ("Ri\x85vi", True),
        ("Rivi\x1b[31m", True),
    ],
)
def test_a_multiline_text_keeps_tabs_and_line_breaks_only(app, typed, refused):
    from forms.invoicing import CorrectionForm

    with app.test_request_context("/", method="POST", headers=ENGLISH):
        form = CorrectionForm(formdata=MultiDict({"question": typed}), meta={"csrf": False})
        assert form.validate() is not refused
        assert (MULTILINE in map(str, form.question.errors)) is refused


@pytest.mark.parametrize(
    "typed, data",
    [("  Ola Olsen\t", "Ola Olsen"), ("Ola\tOlsen", None), ("Ola\x00", None), ("Ola\u2028", "")],
)
def test_one_line_is_trimmed_but_not_cleaned_unseen(app, typed, data):
    from forms.portal import OrderForm

    values = {"desired_delivery": "Kurs", "quantity": "1", "location": "Oslo", "contact": typed}
    with app.test_request_context("/", method="POST", headers=ENGLISH):
        form = OrderForm(formdata=MultiDict(values), meta={"csrf": False})
        form.department.choices = [("", "-")]
        form.validate()
        if data is None:
            assert form.contact.errors == [LINE]
        else:
            assert form.contact.errors == []
            assert form.contact.data == (data or typed.strip())


def test_a_nul_in_a_posted_form_is_a_field_message_and_saves_nothing(forms_alone, make_user):
    from models.training import Course

    client = staff_client(forms_alone, make_user)
    response = client.post(
        "/staff/training/courses/new",
        data=course_data(title="Hankinnat\x00", description="Rivi 1\r\n\tRivi\x00 2"),
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert field_error(html, "title") == LINE
    assert field_error(html, "description") == MULTILINE
    assert count(forms_alone, Course) == 0


def test_a_nul_in_the_path_is_still_refused(client):
    assert client.get("/training/courses/1%00").status_code in (400, 404)


# ---------------------------------------------------------------- bounds of numbers


@pytest.mark.parametrize("cls", portal_forms(), ids=lambda cls: cls.__name__)
def test_every_integer_and_decimal_field_has_bounds_its_column_holds(app, cls):
    with app.test_request_context("/"):
        form = cls(formdata=None, meta={"csrf": False})
        for field in all_fields(form):
            if not isinstance(field, IntegerField | DecimalField | FloatField):
                continue
            bounds = [v for v in field.validators if isinstance(v, Bounds)]
            assert bounds, f"{cls.__name__}.{field.name} has no Bounds"
            assert not any(type(v) is NumberRange for v in field.validators), (
                f"{cls.__name__}.{field.name}: NumberRange overflows (use Bounds)"
            )
            for bound in bounds:
                if isinstance(field, IntegerField):  # Integer is 32 bits on PostgreSQL
                    assert -INT32 - 1 <= bound.min <= bound.max <= INT32, field.name
                else:  # Numeric(10, 2), the narrowest money column
                    assert -MAX_AMOUNT <= bound.min <= bound.max <= MAX_AMOUNT, field.name


HUGE = "9" * 400


def test_a_huge_capacity_is_a_field_message(app, make_user):
    from models.training import Course

    client = staff_client(app, make_user)
    for typed in (HUGE, "-" + HUGE, "10001"):
        response = client.post("/staff/training/courses/new", data=course_data(capacity=typed))
        assert response.status_code == 200, typed
        assert field_error(response.get_data(as_text=True), "capacity"), typed
    assert count(app, Course) == 0


@pytest.mark.parametrize("price", [HUGE, "NaN", "sNaN", "Infinity", "-inf", "1e3", "1E999"])
def test_an_odd_price_is_a_field_message(app, make_user, price):
    client = staff_client(app, make_user)
    response = client.post("/staff/training/courses/new", data=course_data(price=price))
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "price")


def test_huge_payment_terms_are_a_field_message_on_a_new_and_an_edited_invoice(app, make_user):
    from models.invoicing import SalesInvoice

    client = invoicer(app, make_user)
    response = client.post("/invoices/new", data=invoice_data(payment_days=HUGE))
    assert response.status_code == 422  # the invoice desk's answer to a form with errors
    assert field_error(response.get_data(as_text=True), "payment_days") == "Enter 0–365 days."
    assert count(app, SalesInvoice) == 0

    assert client.post("/invoices/new", data=invoice_data()).status_code in (302, 303)
    with app.app_context():
        invoice_id = db.session.scalar(sa.select(SalesInvoice.id))
    for field, typed in [
        ("payment_days", HUGE),
        ("payment_days", "-" + HUGE),
        ("lines-0-quantity", HUGE),
        ("lines-0-unit_price", HUGE),
        ("lines-0-unit_price", "NaN"),
    ]:
        response = client.post(f"/invoices/{invoice_id}/edit", data=invoice_data(**{field: typed}))
        assert response.status_code == 422, (field, typed)
        assert field_error(response.get_data(as_text=True), field), (field, typed)


@pytest.mark.parametrize("typed", ["NaN", "sNaN", "Infinity", "1e5", "1,2,3", "--1"])
def test_a_local_decimal_is_plain_digits(app, typed):
    from wtforms import Form

    class One(Form):
        amount = LocalDecimalField()

    with app.test_request_context("/"):
        form = One(formdata=MultiDict({"amount": typed}))
        assert form.amount.data is None and form.amount.process_errors


@pytest.mark.parametrize(
    "value, ok",
    [(0, True), (365, True), (366, False), (10**400, False), (-(10**400), False)]
    + [(Decimal(v), False) for v in ("NaN", "sNaN", "Infinity", "-Infinity")]
    + [(float("nan"), False), (float("inf"), False)],
    ids=lambda value: str(value)[:12],
)
def test_bounds_compare_exactly(app, value, ok):
    from types import SimpleNamespace

    from wtforms.validators import StopValidation

    field = SimpleNamespace(data=value)
    with app.test_request_context("/", headers=ENGLISH):
        if ok:
            Bounds(0, 365)(None, field)
        else:
            with pytest.raises(StopValidation, match="from 0 to 365"):
                Bounds(0, 365)(None, field)


# ---------------------------------------------------------------- an employee's birth date


def number_born(day: str, *, first: int = 0, last: int = 999) -> str:
    """A valid fødselsnummer of the date digits (ddmmyy) and an individual number in
    first..last (500–749 with a year from 54 is the 1800s, 900–999 from 40 the 1900s)."""
    for individual in range(first, last + 1):
        base = f"{day}{individual:03d}"
        check1 = fodselsnummer.calc_check_digit1(base)
        number = base + check1 + fodselsnummer.calc_check_digit2(base + check1)
        if fodselsnummer.is_valid(number):
            return number
    raise ValueError(day)


TODAY = date(2026, 12, 3)
BORN_1890 = number_born("120590", first=500, last=749)


@pytest.mark.parametrize(
    "number, reason",
    [
        (BORN_1890, "age"),
        (number_born("031211", first=500), None),  # 15 today
        (number_born("041211", first=500), "age"),  # 15 tomorrow
        (number_born("120520", first=500), "age"),
        (number_born("120590", first=900), None),  # 1990
        (number_born("521226", last=499), None),  # a D-nummer: 12 December 1926, 99
        (number_born("041225", last=499), None),  # 100
        (number_born("031225", last=499), "age"),  # 101 today
    ],
)
def test_an_identity_number_is_of_a_working_age(number, reason):
    if reason is None:
        assert identity.validate(number, today=TODAY) == number
    else:
        with pytest.raises(identity.InvalidNumber) as refused:
            identity.validate(number, today=TODAY)
        assert refused.value.reason == reason
        assert identity.validate(number) == number  # no day given: no age asked


def test_a_birth_date_still_to_come_is_no_employees():
    assert not identity.employee_age(date(2027, 1, 1), TODAY)
    assert identity.age(date(2027, 1, 1), TODAY) == -1


@pytest.fixture
def norwegian_customer(app: Flask, make_org, make_user) -> FlaskClient:
    make_org("Demokunde_Test", country="NO", language="nb")
    make_user("bruker@demokunde.example.com", org="Demokunde_Test", name="Bruker", language="en")
    return login(app, "bruker@demokunde.example.com")


def employee_data(**overrides) -> dict:
    return {
        "first_name": "Nora",
        "last_name": "Berg",
        "email": "nora.berg@example.com",
        "mobile": "",
        "birth_date": "",
        "gender": "",
        "department": "company",
        "national_id": "",
        **overrides,
    }


def test_an_employee_born_in_1890_is_refused(app, norwegian_customer):
    from models.portal import Employee

    today = portal.today()
    child = number_born(f"{today:%d%m}{(today.year - 10) % 100:02d}", first=500)
    for number in (BORN_1890, child):
        response = norwegian_customer.post(
            "/portal/employees/new", data=employee_data(national_id=number)
        )
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        error = field_error(html, "national_id")
        assert error and "working age (15 to 100 years)" in error
        assert number not in html
    for typed in ("1910-01-01", f"{today.year - 10}-01-01"):
        response = norwegian_customer.post(
            "/portal/employees/new", data=employee_data(birth_date=typed)
        )
        error = field_error(response.get_data(as_text=True), "birth_date")
        assert error == "An employee is 15 to 100 years old: check the birth date.", typed
    assert count(app, Employee) == 0


# ---------------------------------------------------------------- WTForms in our languages


def wtforms_messages() -> list[str]:
    """WTForms' messages in English, each cut at its first placeholder."""
    with open(f"{messages_path()}/wtforms.pot", encoding="utf-8") as pot:
        catalog = read_po(pot)
    ids = []
    for message in catalog:
        for text in message.id if isinstance(message.id, tuple) else [message.id]:
            if text:
                ids.append(re.split(r"['%]\(", text)[0].strip() or text)
    return sorted(set(ids))


def english_wtforms_message(html: str) -> list[str]:
    import html as html_module

    errors = re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', html, re.S)
    shown = html_module.unescape(" ".join(errors))
    return [text for text in wtforms_messages() if len(text) > 8 and text in shown]


@pytest.mark.parametrize("language", LANGUAGES)
def test_wtforms_messages_on_a_page_are_in_its_language(app, make_user, language):
    staff = staff_client(app, make_user, language)
    response = staff.post(
        "/staff/training/courses/new",
        data=course_data(capacity="many", price="abc", starts_at="x", title=""),
    )
    html = response.get_data(as_text=True)
    assert field_error(html, "capacity") and field_error(html, "price")
    assert english_wtforms_message(html) == []

    # The invoice's lines are a subform, with a Meta of their own.
    client = invoicer(app, make_user, language)
    response = client.post(
        "/invoices/new",
        data=invoice_data(**{"lines-0-quantity": "abc", "invoice_date": "x"}),
    )
    html = response.get_data(as_text=True)
    assert field_error(html, "lines-0-quantity")
    assert english_wtforms_message(html) == []


def reachable_messages(field) -> set[str | tuple[str, str]]:
    """The WTForms messages that the field and its validators can give a user."""
    found: set = set()
    kinds = [
        (IntegerField, "Not a valid integer value."),
        (DecimalField, "Not a valid decimal value."),
        (FloatField, "Not a valid float value."),
        (DateField, "Not a valid date value."),
        (TimeField, "Not a valid time value."),
    ]
    for kind, message in kinds:
        if isinstance(field, kind) and not getattr(field, "invalid_value_message", None):
            found.add(message)
    if isinstance(field, DateTimeField) and not isinstance(field, DateField | TimeField):
        found.add("Not a valid datetime value.")
    if isinstance(field, SelectField | RadioField):
        if field.validate_choice:
            found.add("Not a valid choice.")
        if field.coerce is not str:
            found.add("Invalid Choice: could not coerce.")
    if isinstance(field, SelectMultipleField):
        if field.validate_choice:
            found.add(
                (
                    "'%(value)s' is not a valid choice for this field.",
                    "'%(value)s' are not valid choices for this field.",
                )
            )
        if field.coerce is not str:
            found.add("Invalid choice(s): one or more data inputs could not be coerced.")
    for validator in field.validators:
        if getattr(validator, "message", "") is not None:
            continue  # a message of ours
        if isinstance(validator, DataRequired | InputRequired):
            found.add("This field is required.")
        elif isinstance(validator, Length):
            low, high = validator.min, validator.max
            if low == high:
                found.add(
                    (
                        "Field must be exactly %(max)d character long.",
                        "Field must be exactly %(max)d characters long.",
                    )
                )
            elif high == -1:
                found.add(
                    (
                        "Field must be at least %(min)d character long.",
                        "Field must be at least %(min)d characters long.",
                    )
                )
            elif low == -1:
                found.add(
                    (
                        "Field cannot be longer than %(max)d character.",
                        "Field cannot be longer than %(max)d characters.",
                    )
                )
            else:
                found.add("Field must be between %(min)d and %(max)d characters long.")
        elif isinstance(validator, NumberRange) and not isinstance(validator, Bounds):
            found.add("Number must be between %(min)s and %(max)s.")
        elif isinstance(validator, Regexp):
            found.add("Invalid input.")
        elif isinstance(validator, EqualTo):
            found.add("Field must be equal to %(other_name)s.")
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_wtforms_message_a_form_can_give_is_translated(app, language):
    with app.test_request_context("/", headers={"Accept-Language": language}):
        untranslated = set()
        for cls in portal_forms():
            form = cls(formdata=None, meta={"csrf": False})
            for field in all_fields(form):
                translations = field._translations
                for message in reachable_messages(field):
                    if isinstance(message, tuple):
                        shown = {translations.ngettext(*message, n) for n in (1, 2, 5)}
                        english = set(message)
                    else:
                        shown, english = {translations.gettext(message)}, {message}
                    if shown & english:
                        untranslated.add((f"{cls.__name__}.{field.name}", message))
        assert sorted(untranslated, key=str) == []
