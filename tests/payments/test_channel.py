"""The channel interface client: the seed's example form, both charsets, field rules.

The seed's example (pp. 12-15) lost its purely numeric values and the e-mail address in
transcription. They were recovered by matching both published AUTHCODEs (UTF-8 and
ISO-8859-1) at once: channel secret = the digits 1234567890 repeated to 128 characters,
ORDER_NUMBER 12345678, CONTACT_TELNO +35812345678, CONTACT_EMAIL esimerkki@esimerkki.fi,
CONTACT_ADDR_ZIP 43210; the culture hashed is "fi_FI" (the transcript shows "fi_fi").
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal

import pytest

from services.payments import channel as pc
from services.payments.channel import PaymentFieldError
from tests.fixtures.payment_channel import (
    CHANNEL,
    EXAMPLE_FORM,
    EXAMPLE_STRING,
    SECRET,
    SEED_AUTHCODE_ISO,
    SEED_AUTHCODE_UTF8,
    example_payment,
    md5_upper,
    minimal_payment,
    with_item,
)

# --- the seed's example ---------------------------------------------------------------


def test_example_form_fields_in_documented_order_authcode_last():
    form = pc.build_form(example_payment(), channel_id=CHANNEL, secret=SECRET)
    assert form[:-1] == EXAMPLE_FORM
    assert form[-1] == ("AUTHCODE", SEED_AUTHCODE_UTF8)


def test_example_authcode_utf8_reproduces_the_seed():
    assert md5_upper(EXAMPLE_STRING, "utf-8") == SEED_AUTHCODE_UTF8
    form = dict(pc.build_form(example_payment(), channel_id=CHANNEL, secret=SECRET))
    assert pc.authcode_string(form, SECRET) == EXAMPLE_STRING
    assert form["AUTHCODE"] == SEED_AUTHCODE_UTF8


def test_example_authcode_iso_8859_1_reproduces_the_seed():
    assert md5_upper(EXAMPLE_STRING, "iso-8859-1") == SEED_AUTHCODE_ISO
    form = pc.build_form(example_payment(), channel_id=CHANNEL, secret=SECRET, charset="ISO-8859-1")
    assert form[-1] == ("AUTHCODE", SEED_AUTHCODE_ISO)
    assert form[:-1] == EXAMPLE_FORM  # same values; only their bytes differ


def test_example_culture_lower_case_would_not_reproduce_the_seed():
    lower = EXAMPLE_STRING.replace("|fi_FI|", "|fi_fi|")
    assert md5_upper(lower, "utf-8") != SEED_AUTHCODE_UTF8


@pytest.mark.parametrize("culture", ["fi_fi", "fi_FI", "FI_FI", " fi_fi "])
def test_culture_any_case_is_sent_as_xx_YY(culture):
    form = dict(pc.build_form(example_payment(culture=culture), channel_id=CHANNEL, secret=SECRET))
    assert form["CULTURE"] == "fi_FI"
    assert form["AUTHCODE"] == SEED_AUTHCODE_UTF8


@pytest.mark.parametrize(("culture", "sent"), [("sv_se", "sv_SE"), ("en_US", "en_US")])
def test_other_cultures(culture, sent):
    form = dict(pc.build_form(example_payment(culture=culture), channel_id=CHANNEL, secret=SECRET))
    assert form["CULTURE"] == sent


def test_form_authcode_of_a_received_form_matches():
    """A stand-in for the service can check a posted form with the same function."""
    for charset in ("UTF-8", "ISO-8859-1"):
        form = dict(
            pc.build_form(example_payment(), channel_id=CHANNEL, secret=SECRET, charset=charset)
        )
        received = {k: v for k, v in form.items() if k != "AUTHCODE"}
        assert pc.form_authcode(received, secret=SECRET, charset=charset) == form["AUTHCODE"]
        assert pc.form_authcode(received, secret="other", charset=charset) != form["AUTHCODE"]


# --- charsets -------------------------------------------------------------------------


def test_names_with_umlauts_hash_differently_per_charset_each_by_hand():
    by_hand = (
        "s3cret|42|A-1|EUR|https://portal.example/ok|https://portal.example/cancel"
        "|https://portal.example/notify|1|||||bjorn@example.fi|Björn|Mäkelä||Kauppatie 2"
        "|00100|Helsinki|FI|0|1|Kurssi||1|100|25.5|7|2||"
    )
    utf8 = dict(pc.build_form(minimal_payment(), channel_id="42", secret="s3cret"))
    iso = dict(
        pc.build_form(minimal_payment(), channel_id="42", secret="s3cret", charset="iso-8859-1")
    )
    assert utf8["AUTHCODE"] == hashlib.md5(by_hand.encode("utf-8")).hexdigest().upper()
    assert iso["AUTHCODE"] == hashlib.md5(by_hand.encode("latin-1")).hexdigest().upper()
    assert utf8["AUTHCODE"] != iso["AUTHCODE"]
    assert {k: v for k, v in utf8.items() if k != "AUTHCODE"} == {
        k: v for k, v in iso.items() if k != "AUTHCODE"
    }


def test_optional_fields_not_sent_but_counted_empty():
    form = pc.build_form(minimal_payment(), channel_id="42", secret="s3cret")
    names = [name for name, _ in form]
    for absent in (
        "CULTURE",
        "METHOD_PRESELECT",
        "CONTACT_TELNO",
        "CONTACT_CELLNO",
        "CONTACT_COMPANY",
        "ITEM_NO[0]",
        "ITEM_DISCOUNT[0]",
        "ITEM_TYPE[0]",
    ):
        assert absent not in names
    assert names[-1] == "AUTHCODE"
    assert names[:3] == ["CHANNEL_ID", "ORDER_NUMBER", "CURRENCY"]


@pytest.mark.parametrize(
    ("charset", "canonical"),
    [
        ("utf8", "UTF-8"),
        ("UTF-8", "UTF-8"),
        ("latin-1", "ISO-8859-1"),
        ("ISO-8859-1", "ISO-8859-1"),
        ("iso8859_1", "ISO-8859-1"),
    ],
)
def test_charset_spellings(charset, canonical):
    """Every spelling of a charset gives the form (and AUTHCODE) of its canonical name."""
    payment = minimal_payment()
    form = pc.build_form(payment, channel_id="42", secret="s", charset=charset)
    assert form == pc.build_form(payment, channel_id="42", secret="s", charset=canonical)
    assert pc.normalise_charset(charset) == canonical


@pytest.mark.parametrize("charset", ["cp1252", "utf-16", "ascii", "nonsense"])
def test_other_charsets_refused(charset):
    with pytest.raises(ValueError, match="charset"):
        pc.build_form(minimal_payment(), channel_id="42", secret="s", charset=charset)


def test_empty_secret_refused():
    with pytest.raises(ValueError, match="secret"):
        pc.build_form(minimal_payment(), channel_id="42", secret="")


# --- field rules ----------------------------------------------------------------------


PIPE = "a|b"
REFUSED = [
    # "|" in any value (p. 5)
    ("ORDER_NUMBER", dict(order_number=PIPE)),
    ("CONTACT_FIRSTNAME", dict(contact_firstname=PIPE)),
    ("CONTACT_COMPANY", dict(contact_company=PIPE)),
    ("CONTACT_TELNO", dict(contact_telno="040|123")),
    # maximum lengths (pp. 5-6)
    ("ORDER_NUMBER", dict(order_number="x" * 65)),
    ("RETURN_ADDRESS", dict(return_address="https://e.example/" + "x" * 238)),
    ("CONTACT_EMAIL", dict(contact_email="x" * 251 + "@e.fi")),
    ("CONTACT_FIRSTNAME", dict(contact_firstname="x" * 65)),
    ("CONTACT_COMPANY", dict(contact_company="x" * 129)),
    ("CONTACT_CELLNO", dict(contact_cellno="1" * 65)),
    ("CONTACT_ADDR_STREET", dict(contact_addr_street="x" * 129)),
    ("CONTACT_ADDR_ZIP", dict(contact_addr_zip="1" * 17)),
    ("CONTACT_ADDR_CITY", dict(contact_addr_city="x" * 65)),
    # formats and allowed values
    ("CURRENCY", dict(currency="USD")),
    ("CURRENCY", dict(currency="")),
    ("CULTURE", dict(culture="de_DE")),
    ("CULTURE", dict(culture="fi")),
    ("INCLUDE_VAT", dict(include_vat=2)),
    ("INCLUDE_VAT", dict(include_vat="1")),
    ("CONTACT_ADDR_ZIP", dict(contact_addr_zip="00100 A")),
    ("CONTACT_ADDR_ZIP", dict(contact_addr_zip="１２３")),
    ("CONTACT_ADDR_COUNTRY", dict(contact_addr_country="FIN")),
    ("CONTACT_ADDR_COUNTRY", dict(contact_addr_country="F1")),
    # required values
    ("ORDER_NUMBER", dict(order_number="")),
    ("CONTACT_EMAIL", dict(contact_email="")),
    ("CONTACT_LASTNAME", dict(contact_lastname="   ")),
    ("CONTACT_ADDR_CITY", dict(contact_addr_city=None)),
    ("CONTACT_ADDR_COUNTRY", dict(contact_addr_country="")),
    ("NOTIFY_ADDRESS", dict(notify_address="")),
    ("ITEMS", dict(items=[])),
    # optional, but not blank
    ("CONTACT_TELNO", dict(contact_telno="  ")),
    # control characters would be rewritten by the browser and break the AUTHCODE
    ("CONTACT_ADDR_STREET", dict(contact_addr_street="Kauppatie 2\nB 5")),
    ("ORDER_NUMBER", dict(order_number="A\t1")),
]
REFUSED_ITEM = [
    ("ITEM_TITLE[0]", dict(title=PIPE)),
    ("ITEM_TITLE[0]", dict(title="")),
    ("ITEM_TITLE[0]", dict(title="x" * 256)),
    ("ITEM_NO[0]", dict(no="x" * 17)),
    ("ITEM_NO[0]", dict(no="1|2")),
    ("ITEM_PRICE[0]", dict(price="-0.01")),
    ("ITEM_PRICE[0]", dict(price=Decimal("-5"))),
    ("ITEM_PRICE[0]", dict(price="1.005")),
    ("ITEM_PRICE[0]", dict(price="1,50")),
    ("ITEM_PRICE[0]", dict(price=1.5)),
    ("ITEM_PRICE[0]", dict(price="NaN")),
    ("ITEM_PRICE[0]", dict(price="12345678.90")),  # 11 characters
    ("ITEM_AMOUNT[0]", dict(amount=0)),
    ("ITEM_AMOUNT[0]", dict(amount=-1)),
    ("ITEM_AMOUNT[0]", dict(amount="0.333")),
    ("ITEM_TAX[0]", dict(tax="25.555")),
    ("ITEM_TAX[0]", dict(tax=101)),
    ("ITEM_TAX[0]", dict(tax=-1)),
    ("ITEM_DISCOUNT[0]", dict(discount=101)),
    ("ITEM_DISCOUNT[0]", dict(discount="-1")),
    ("ITEM_DISCOUNT[0]", dict(discount="10.125")),
    ("ITEM_CP[0]", dict(cp="1.001")),
    ("ITEM_CP[0]", dict(cp=None)),
    ("ITEM_CP[0]", dict(cp=True)),
    ("ITEM_TYPE[0]", dict(type=4)),
    ("ITEM_TYPE[0]", dict(type=0)),
    ("ITEM_TYPE[0]", dict(type="1")),
    ("ITEM_MERCHANT_ID[0]", dict(merchant_id="123456789")),
    ("ITEM_MERCHANT_ID[0]", dict(merchant_id="13-466")),
    ("ITEM_MERCHANT_ID[0]", dict(merchant_id="")),
    # the channel's commission may not exceed the items' sum (p. 4): 100 + 25.5 % VAT
    ("ITEM_CP[0]", dict(commission="125.51")),  # more than the line
    ("ITEM_CP[0]", dict(commission="-1")),
]


@pytest.mark.parametrize(("field", "changes"), REFUSED)
def test_payment_field_rules(field, changes):
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(minimal_payment(**changes), channel_id="42", secret="s")
    assert caught.value.field == field
    assert caught.value.message and caught.value.message.isascii()
    assert str(caught.value).startswith(field + ": ")


@pytest.mark.parametrize(("field", "changes"), REFUSED_ITEM)
def test_item_field_rules(field, changes):
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(with_item(**changes), channel_id="42", secret="s")
    assert caught.value.field == field


@pytest.mark.parametrize("channel_id", ["", "12a", "1" * 12, " 123"])
def test_channel_id_is_up_to_eleven_digits(channel_id):
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(minimal_payment(), channel_id=channel_id, secret="s")
    assert caught.value.field == "CHANNEL_ID"


def test_second_item_errors_name_their_index():
    base = minimal_payment()
    bad = replace(base.items[0], price="-1")
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(replace(base, items=[base.items[0], bad]), channel_id="42", secret="s")
    assert caught.value.field == "ITEM_PRICE[1]"


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        (dict(price="10"), "ITEM_PRICE[0]", "10"),
        (dict(price=Decimal("10.50")), "ITEM_PRICE[0]", "10.50"),
        (dict(price="10.500"), "ITEM_PRICE[0]", "10.50"),  # trailing zero, still 2 decimals
        (dict(price="0"), "ITEM_PRICE[0]", "0"),
        (dict(price="-0"), "ITEM_PRICE[0]", "0"),
        (dict(price="1E+2"), "ITEM_PRICE[0]", "100"),
        (dict(price="1234567.89"), "ITEM_PRICE[0]", "1234567.89"),
        (dict(amount="1.5"), "ITEM_AMOUNT[0]", "1.5"),
        (dict(tax=24), "ITEM_TAX[0]", "24"),
        (dict(cp="3"), "ITEM_CP[0]", "3"),
        (dict(discount="100"), "ITEM_DISCOUNT[0]", "100"),
        (dict(type=2), "ITEM_TYPE[0]", "2"),
        (dict(type=3), "ITEM_TYPE[0]", "3"),
        (dict(merchant_id="12345678"), "ITEM_MERCHANT_ID[0]", "12345678"),
        (dict(no="ABC-1"), "ITEM_NO[0]", "ABC-1"),
    ],
)
def test_accepted_item_values(changes, field, value):
    form = dict(pc.build_form(with_item(**changes), channel_id="42", secret="s"))
    assert form[field] == value


def test_commission_up_to_the_items_sum_is_accepted():
    # 100 + 25.5 % VAT = 125.50; prices exclude VAT (INCLUDE_VAT 0)
    pc.build_form(with_item(commission="125.50"), channel_id="42", secret="s")
    # less 20 % discount: 100.40
    pc.build_form(with_item(commission="100.40", discount="20"), channel_id="42", secret="s")
    with pytest.raises(PaymentFieldError):
        pc.build_form(with_item(commission="100.41", discount="20"), channel_id="42", secret="s")


def test_pipe_in_addresses_is_url_encoded():
    payment = minimal_payment(
        return_address="https://portal.example/ok?a=1|2", cancel_address="https://x.example/|"
    )
    form = dict(pc.build_form(payment, channel_id="42", secret="s"))
    assert form["RETURN_ADDRESS"] == "https://portal.example/ok?a=1%7C2"
    assert form["CANCEL_ADDRESS"] == "https://x.example/%7C"
    assert "|" not in "".join(form.values())


def test_address_length_counts_after_encoding():
    address = "https://e.example/" + "x" * 236 + "|"  # 255 characters, 257 encoded
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(minimal_payment(notify_address=address), channel_id="42", secret="s")
    assert caught.value.field == "NOTIFY_ADDRESS"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(contact_lastname="Wałęsa"), "CONTACT_LASTNAME"),
        (dict(contact_company="Euro € Oy"), "CONTACT_COMPANY"),
        (dict(contact_addr_city="Tōkyō"), "CONTACT_ADDR_CITY"),
    ],
)
def test_iso_8859_1_refuses_what_it_cannot_represent(changes, field):
    payment = minimal_payment(**changes)
    pc.build_form(payment, channel_id="42", secret="s")  # fine in UTF-8
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(payment, channel_id="42", secret="s", charset="ISO-8859-1")
    assert caught.value.field == field


def test_iso_8859_1_item_title():
    payment = with_item(title="Kurssi – syksy")  # en dash: not in ISO-8859-1
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(payment, channel_id="42", secret="s", charset="ISO-8859-1")
    assert caught.value.field == "ITEM_TITLE[0]"


def test_too_many_items(monkeypatch):
    monkeypatch.setattr(pc, "MAX_ITEMS", 2)
    item = minimal_payment().items[0]
    pc.build_form(minimal_payment(items=[item] * 2), channel_id="42", secret="s")
    with pytest.raises(PaymentFieldError) as caught:
        pc.build_form(minimal_payment(items=[item] * 3), channel_id="42", secret="s")
    assert caught.value.field == "ITEMS"


def test_max_items_follows_the_eight_digit_items_field():
    assert len(str(pc.MAX_ITEMS)) == 8
    assert len(str(pc.MAX_ITEMS + 1)) == 9


def test_include_vat_flag():
    assert (
        dict(pc.build_form(minimal_payment(include_vat=True), channel_id="1", secret="s"))[
            "INCLUDE_VAT"
        ]
        == "1"
    )
    assert (
        dict(pc.build_form(minimal_payment(include_vat=0), channel_id="1", secret="s"))[
            "INCLUDE_VAT"
        ]
        == "0"
    )


def test_eur_in_any_case_is_sent_as_eur():
    form = dict(pc.build_form(minimal_payment(currency="eur"), channel_id="1", secret="s"))
    assert form["CURRENCY"] == "EUR"
