"""Languages: the user's choice, then Accept-Language, then Finnish; complete catalogs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from extensions import db
from models.auth import User

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _lang(response) -> str:
    return re.search(r'<html lang="(\w+)"', response.get_data(as_text=True)).group(1)


def test_finnish_is_the_default(client):
    response = client.get("/")
    assert _lang(response) == "fi"
    assert "Kirjaudu sisään" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("header", "lang", "phrase"),
    [
        ("sv-FI,sv;q=0.9", "sv", "Logga in"),
        ("nb-NO,nb;q=0.9,en;q=0.5", "nb", "Logg inn"),
        ("no", "nb", "Logg inn"),
        ("en-GB,en;q=0.8", "en", "Log in"),
        ("de-DE", "fi", "Kirjaudu sisään"),
    ],
)
def test_the_browser_language_is_used(client, header, lang, phrase):
    response = client.get("/", headers={"Accept-Language": header})
    assert _lang(response) == lang
    assert phrase in response.get_data(as_text=True)


def test_the_switcher_wins_over_the_browser(client):
    response = client.post("/language", data={"language": "sv", "next": "/auth/login"})
    assert response.status_code == 303 and response.headers["Location"] == "/auth/login"
    assert _lang(client.get("/", headers={"Accept-Language": "en"})) == "sv"


def test_the_switcher_ignores_an_unknown_language(client):
    assert client.post("/language", data={"language": "de", "next": "/"}).status_code == 400


def test_the_switcher_does_not_redirect_off_site(client):
    response = client.post("/language", data={"language": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_a_logged_in_users_choice_is_kept_in_the_profile(app, client, auth, make_user):
    user = make_user(language="fi")
    auth.login()
    client.post("/language", data={"language": "nb", "next": "/"})
    with app.app_context():
        assert db.session.get(User, user.id).language == "nb"


def test_the_profile_language_applies_after_login(client, auth, make_user):
    make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker", language="nb")
    auth.login("kunde@example.com")
    text = client.get("/").get_data(as_text=True)
    assert 'lang="nb"' in text and "Du er logget inn som:" in text and "Logg ut" in text


def test_form_errors_are_translated(client):
    response = client.post(
        "/auth/login", data={"email": "", "password": ""}, headers={"Accept-Language": "sv"}
    )
    text = response.get_data(as_text=True)
    assert "Ange din e-postadress." in text
    assert "Enter your email address." not in text


def _catalog(lang: str):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


def test_the_source_scan_finds_the_strings():
    assert {"Log in", "Mail outbox", "Set a new password"} <= _source_messages()


def _source_messages() -> set[str]:
    method_map = [
        ("**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT),
        method_map=method_map,
        keywords={"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)},
        directory_filter=lambda d: not Path(d).name.startswith((".", "tests", "migrations")),
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("lang", ["fi", "sv", "nb", "en"])
def test_every_string_of_the_code_is_translated(lang):
    catalog = _catalog(lang)
    missing = sorted(
        m for m in _source_messages() if not (catalog.get(m) and catalog.get(m).string)
    )
    assert not missing, f"untranslated in {lang} (run `make update-messages`): {missing}"


@pytest.mark.parametrize("lang", ["fi", "sv", "nb", "en"])
def test_translations_keep_their_placeholders(lang):
    for message in _catalog(lang):
        if not message.id:
            continue
        # A plural entry is a tuple: every form keeps the placeholders of the plural msgid.
        source = message.id[-1] if isinstance(message.id, tuple) else message.id
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            assert form, f"{lang}: {source!r} has an empty translation"
            assert set(PLACEHOLDER.findall(source)) == set(PLACEHOLDER.findall(form)), source
