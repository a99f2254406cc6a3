"""The channel interface client: returns, and the receiving side (a form as the service
checks it).

The seed's example (pp. 12-15) lost its purely numeric values and the e-mail address in
transcription. They were recovered by matching both published AUTHCODEs (UTF-8 and
ISO-8859-1) at once: channel secret = the digits 1234567890 repeated to 128 characters,
ORDER_NUMBER 12345678, CONTACT_TELNO +35812345678, CONTACT_EMAIL esimerkki@esimerkki.fi,
CONTACT_ADDR_ZIP 43210; the culture hashed is "fi_FI" (the transcript shows "fi_fi").
"""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

import pytest

from services.payments import channel as pc
from services.payments.channel import Item, PaymentFieldError
from tests.fixtures.payment_channel import (
    EXAMPLE_FORM,
    SECRET,
    SEED_AUTHCODE_UTF8,
    example_payment,
    md5_upper,
    minimal_payment,
    with_item,
)

# --- returns --------------------------------------------------------------------------

RSECRET = "channel-secret"


def success(method: str | None = "1") -> dict[str, str]:
    params = {"ORDER_NUMBER": "A-1", "TIMESTAMP": "1176557554", "PAID": "F4SDGF23FS"}
    if method is not None:
        params["METHOD"] = method
    params["RETURN_AUTHCODE"] = pc.return_authcode(
        "A-1", "1176557554", "F4SDGF23FS", method, RSECRET
    )
    return params


def cancel() -> dict[str, str]:
    return {
        "ORDER_NUMBER": "A-1",
        "TIMESTAMP": "1176557554",
        "RETURN_AUTHCODE": pc.return_authcode("A-1", "1176557554", None, None, RSECRET),
    }


def test_return_authcode_by_hand():
    assert pc.return_authcode("A-1", "1176557554", "F4SDGF23FS", "1", RSECRET) == md5_upper(
        f"A-1|1176557554|F4SDGF23FS|1|{RSECRET}", "ascii"
    )
    assert pc.return_authcode("A-1", "1176557554", "F4SDGF23FS", None, RSECRET) == md5_upper(
        f"A-1|1176557554|F4SDGF23FS|{RSECRET}", "ascii"
    )
    assert pc.return_authcode("A-1", "1176557554", None, None, RSECRET) == md5_upper(
        f"A-1|1176557554|{RSECRET}", "ascii"
    )


def test_return_authcode_matches_the_successor_documentation():
    """Same formula, without METHOD, in the service's later public documentation."""
    assert (
        pc.return_authcode("123456", "1176557554", "F4SDGF23FS", None, SECRET)
        == "7C597D787D71EFBBEC68275B5B9D13EF"
    )


def test_return_authcode_method_needs_paid():
    with pytest.raises(ValueError):
        pc.return_authcode("A-1", "1", None, "1", RSECRET)


def test_success_with_method():
    result = pc.verify_return(success("1"), RSECRET)
    assert result.authentic and result.paid
    assert (result.order_number, result.timestamp) == ("A-1", "1176557554")
    assert (result.paid_code, result.method) == ("F4SDGF23FS", "1")
    assert result.error is None


def test_success_without_method():
    result = pc.verify_return(success(None), RSECRET)
    assert result.authentic and result.paid and result.method is None


def test_cancel():
    result = pc.verify_return(cancel(), RSECRET)
    assert result.authentic and not result.paid
    assert result.order_number == "A-1" and result.paid_code is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ORDER_NUMBER", "A-2"),
        ("TIMESTAMP", "1176557555"),
        ("PAID", "F4SDGF23FT"),
        ("METHOD", "2"),
    ],
)
def test_tampered_success(field, value):
    params = success("1") | {field: value}
    result = pc.verify_return(params, RSECRET)
    assert not result.authentic and not result.paid
    assert result.error == "RETURN_AUTHCODE does not match"
    assert result.order_number is None


@pytest.mark.parametrize(("field", "value"), [("ORDER_NUMBER", "A-2"), ("TIMESTAMP", "1")])
def test_tampered_cancel(field, value):
    assert not pc.verify_return(cancel() | {field: value}, RSECRET).authentic


def test_cancel_dressed_up_as_paid_is_refused():
    forged = cancel() | {"PAID": "F4SDGF23FS"}
    assert not pc.verify_return(forged, RSECRET).authentic


def test_success_without_its_method_or_paid_is_refused():
    params = success("1")
    del params["METHOD"]
    assert not pc.verify_return(params, RSECRET).authentic
    params = success(None)
    del params["PAID"]
    assert not pc.verify_return(params, RSECRET).authentic


def test_wrong_secret():
    assert not pc.verify_return(success(), "other").authentic


def test_hash_case_follows_the_seed_upper_case_only():
    params = success()
    assert params["RETURN_AUTHCODE"].isupper()
    assert pc.verify_return(params, RSECRET).authentic
    lower = params | {"RETURN_AUTHCODE": params["RETURN_AUTHCODE"].lower()}
    assert not pc.verify_return(lower, RSECRET).authentic


@pytest.mark.parametrize("missing", ["ORDER_NUMBER", "TIMESTAMP", "RETURN_AUTHCODE"])
def test_missing_field(missing):
    for params in (success(), cancel()):
        del params[missing]
        result = pc.verify_return(params, RSECRET)
        assert not result.authentic
        assert result.error == f"{missing} is missing"


@pytest.mark.parametrize(
    "changes",
    [
        {"PAID": ""},
        {"METHOD": ""},
        {"TIMESTAMP": "2024-01-01"},
        {"RETURN_AUTHCODE": "ä" * 32},
        {"RETURN_AUTHCODE": "0" * 31},
    ],
)
def test_malformed_returns(changes):
    assert not pc.verify_return(success() | changes, RSECRET).authentic


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("TIMESTAMP", "9" * 13),
        ("ORDER_NUMBER", "A" * 65),
        ("PAID", "P" * 65),
        ("METHOD", "1" * 9),
    ],
)
def test_signed_but_oversized_values_are_refused(field, value):
    """Even correctly signed, a value the portal cannot store is no return of ours."""
    values = {"ORDER_NUMBER": "A-1", "TIMESTAMP": "1176557554", "PAID": "F", "METHOD": "1"}
    values[field] = value
    params = values | {
        "RETURN_AUTHCODE": pc.return_authcode(
            values["ORDER_NUMBER"], values["TIMESTAMP"], values["PAID"], values["METHOD"], RSECRET
        )
    }
    result = pc.verify_return(params, RSECRET)
    assert not result.authentic
    assert field in result.error


def test_a_pipe_cannot_shift_a_value_between_fields():
    """A genuine PAID=P&METHOD=1 resent as PAID='P|1' hashes the same: refused."""
    genuine = success(method="1")
    shifted = {
        "ORDER_NUMBER": genuine["ORDER_NUMBER"],
        "TIMESTAMP": genuine["TIMESTAMP"],
        "PAID": genuine["PAID"] + "|" + genuine["METHOD"],
        "RETURN_AUTHCODE": genuine["RETURN_AUTHCODE"],
    }
    result = pc.verify_return(shifted, RSECRET)
    assert not result.authentic
    assert result.error == "PAID contains '|'"
    order_shift = cancel() | {"ORDER_NUMBER": "A|1"}
    order_shift["RETURN_AUTHCODE"] = pc.return_authcode("A", "1", "1176557554", None, RSECRET)
    assert not pc.verify_return(order_shift, RSECRET).authentic


def test_method_without_paid_is_refused():
    params = cancel() | {"METHOD": "1"}
    result = pc.verify_return(params, RSECRET)
    assert not result.authentic and "METHOD" in result.error


def test_comparison_is_constant_time(monkeypatch):
    calls = []
    real = pc.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(pc.hmac, "compare_digest", spy)
    assert pc.verify_return(success(), RSECRET).authentic
    assert len(calls) == 1


# --- the receiving side: a form as the service checks it -------------------------------


def fields_with(**values: str | None) -> dict[str, str]:
    """The seed's example form as received, with changes; None leaves a field out."""
    fields = dict(EXAMPLE_FORM) | {"AUTHCODE": SEED_AUTHCODE_UTF8}
    for name, value in values.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


def problems(fields: dict[str, str], charset: str = "UTF-8") -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in pc.check_received(fields, charset=charset)]


@pytest.mark.parametrize("charset", ["UTF-8", "ISO-8859-1"])
def test_the_seeds_example_form_passes_the_receiving_checks(charset):
    assert problems(fields_with(), charset) == []


def test_what_build_form_sends_passes_the_receiving_checks():
    for payment in (example_payment(), minimal_payment(), with_item(discount="12.5", type=3)):
        for charset in ("UTF-8", "ISO-8859-1"):
            form = dict(pc.build_form(payment, channel_id="42", secret="s", charset=charset))
            assert problems(form, charset) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CURRENCY", "eur"),
        ("CULTURE", "FI_fi"),
        ("CULTURE", "en_us"),
        ("CULTURE", None),
        ("CONTACT_ADDR_COUNTRY", "fi"),
        ("INCLUDE_VAT", "0"),
        ("METHOD_PRESELECT", "1"),
        ("CONTACT_COMPANY", None),
        ("ITEM_PRICE[0]", "10"),
        ("ITEM_PRICE[0]", "0"),
        ("ITEM_PRICE[0]", "0.5"),
        ("ITEM_PRICE[0]", "10.500"),  # two decimals' worth, as build_form accepts it
        ("ITEM_PRICE[0]", "1234567.89"),
        ("ITEM_AMOUNT[0]", "1.5"),
        ("ITEM_TAX[0]", "100"),
        ("ITEM_TAX[0]", "0"),
        ("ITEM_DISCOUNT[0]", None),
        ("ITEM_DISCOUNT[0]", "100"),
        ("ITEM_TYPE[0]", None),
        ("ITEM_TYPE[0]", "3"),
        ("ITEM_NO[0]", None),
        ("ITEM_MERCHANT_ID[0]", "12345678"),
        ("ITEM_CP[0]", "1.00"),
    ],
)
def test_received_values_accepted(name, value):
    assert problems(fields_with(**{name: value})) == []


RECEIVED_REFUSED = [
    ("CHANNEL_ID", "12a", "must contain digits only"),
    ("CHANNEL_ID", "1" * 12, "must be at most 11 characters long (is 12)"),
    ("ORDER_NUMBER", None, "is required"),
    ("ORDER_NUMBER", "1|2", 'must not contain the character "|"'),
    ("CURRENCY", "USD", "must be EUR, the only currency accepted"),
    (
        "RETURN_ADDRESS",
        "https://e.example/" + "x" * 238,
        "must be at most 255 characters long (is 256)",
    ),
    ("NOTIFY_ADDRESS", "", "is required"),
    ("VERSION", "2", "must be 1, the channel interface's version"),
    ("VERSION", "v1", "must contain digits only"),
    ("CULTURE", "de_DE", "must be fi_FI, sv_SE or en_US"),
    ("CULTURE", "fi_FI_x", "must be at most 5 characters long (is 7)"),
    ("CONTACT_TELNO", "  ", "must not be only spaces"),
    ("CONTACT_EMAIL", None, "is required"),
    ("CONTACT_ADDR_STREET", "Testikatu\t1", "must not contain line breaks or control characters"),
    ("CONTACT_ADDR_ZIP", "43 210", "must contain digits only"),
    ("CONTACT_ADDR_COUNTRY", "F1", "must be a two-letter ISO 3166 country code"),
    ("CONTACT_ADDR_COUNTRY", "FIN", "must be at most 2 characters long (is 3)"),
    ("INCLUDE_VAT", "2", "must be 1 (prices include VAT) or 0"),
    ("INCLUDE_VAT", "", "is required"),
    ("ITEMS", "0", "must have at least one item line"),
    ("ITEMS", "1", "must be the number of item lines sent, numbered from 0 (sent: 0, 1)"),
    ("ITEMS", "3", "must be the number of item lines sent, numbered from 0 (sent: 0, 1)"),
    ("ITEMS", "123456789", "must be at most 8 characters long (is 9)"),
    ("AUTHCODE", None, "is required"),
    ("AUTHCODE", "0" * 33, "must be at most 32 characters long (is 33)"),
    ("ITEM_TITLE[0]", None, "is required"),
    ("ITEM_NO[1]", "x" * 17, "must be at most 16 characters long (is 17)"),
    ("ITEM_AMOUNT[0]", "0", "must be greater than zero"),
    ("ITEM_AMOUNT[0]", "-1", "must be greater than zero"),
    ("ITEM_PRICE[0]", "-0.01", "must not be negative"),
    ("ITEM_PRICE[0]", "1,50", "must be a number with a dot as decimal separator"),
    ("ITEM_PRICE[0]", "1e2", "must be a number with a dot as decimal separator"),
    ("ITEM_PRICE[0]", ".5", "must be a number with a dot as decimal separator"),
    ("ITEM_PRICE[0]", "NaN", "must be a number with a dot as decimal separator"),
    ("ITEM_PRICE[0]", "1.005", "must have at most two decimals"),
    ("ITEM_PRICE[0]", "12345678.90", "must be at most 10 characters long (is 11)"),
    ("ITEM_TAX[1]", "100.5", "must be a percentage from 0 to 100"),
    ("ITEM_MERCHANT_ID[0]", "123456789", "must be at most 8 characters long (is 9)"),
    ("ITEM_CP[0]", None, "is required"),
    ("ITEM_CP[0]", "-1", "must not be negative"),
    ("ITEM_DISCOUNT[1]", "-5", "must be a percentage from 0 to 100"),
    ("ITEM_DISCOUNT[1]", "20.125", "must have at most two decimals"),
    ("ITEM_TYPE[0]", "0", "must be one of 1, 2, 3"),
    ("ITEM_TYPE[0]", "x", "must contain digits only"),
]


@pytest.mark.parametrize(("name", "value", "message"), RECEIVED_REFUSED)
def test_received_values_refused(name, value, message):
    assert problems(fields_with(**{name: value})) == [(name, message)]


def test_every_received_problem_is_listed_in_field_order():
    fields = fields_with(
        **{"ITEM_TYPE[1]": "7", "CURRENCY": "SEK", "ITEM_PRICE[0]": "-1", "AUTHCODE": None}
    )
    assert [field for field, _ in problems(fields)] == [
        "CURRENCY",
        "AUTHCODE",
        "ITEM_PRICE[0]",
        "ITEM_TYPE[1]",
    ]


def test_received_item_lines_must_match_items():
    # A line left out, a line too many, a gap: each says what was sent.
    without_second = {k: v for k, v in fields_with().items() if not k.endswith("[1]")}
    assert problems(without_second) == [
        ("ITEMS", "must be the number of item lines sent, numbered from 0 (sent: 0)")
    ]
    gap = {k.replace("[1]", "[2]"): v for k, v in fields_with().items()}
    assert problems(gap)[0] == (
        "ITEMS",
        "must be the number of item lines sent, numbered from 0 (sent: 0, 2)",
    )
    # One field of a line is enough to count it; the line's missing fields are named.
    partial = fields_with(**{"ITEM_NO[2]": "1"})
    assert ("ITEM_TITLE[2]", "is required") in problems(partial)


def test_a_huge_items_count_is_refused_at_once():
    started = time.perf_counter()
    assert problems(fields_with(ITEMS="99999999"))[0][0] == "ITEMS"
    many = fields_with() | {f"ITEM_TITLE[{x}]": "x" for x in range(2, 40)}
    assert "…" in problems(many)[0][1]
    assert time.perf_counter() - started < 1


def test_received_names_that_are_no_item_fields_are_ignored():
    # ITEM_TITLE[01] is not line 1 (the documented names number lines 0, 1, …): ignored.
    fields = fields_with() | {"ITEM_COLOUR[0]": "red", "ITEM_TITLE[01]": "x", "SUBMIT": "Maksa"}
    assert problems(fields) == []
    assert problems(fields_with() | {"ITEM_COLOUR[5]": "red"}) == []


def test_received_text_the_charset_cannot_carry():
    fields = fields_with(CONTACT_COMPANY="Euro € Oy")
    assert problems(fields, "UTF-8") == []
    assert problems(fields, "ISO-8859-1") == [
        ("CONTACT_COMPANY", "contains characters that ISO-8859-1 cannot represent")
    ]


def test_received_items_of_the_example():
    items = pc.received_items(fields_with())
    assert [(i.title, i.amount, i.price, i.discount, i.type) for i in items] == [
        ("Esimerkkituote 1", "1", "10.00", "0", 1),
        ("Esimerkkituote 2", "2", "5.00", "20.00", 1),
    ]
    assert items[0].merchant_id == "13466" and items[0].cp == "1" and items[0].no == "12345"
    bare = pc.received_items(fields_with(**{"ITEM_DISCOUNT[0]": None, "ITEM_TYPE[0]": None}))
    assert bare[0].discount is None and bare[0].type is None


@pytest.mark.parametrize(
    ("lines", "include_vat", "total"),
    [
        # the seed's example: 1 × 10.00 + 2 × 5.00 less 20 %
        ([("1", "10.00", "22.00", "0")], True, "10.00"),
        ([("1", "10.00", "22.00", "0"), ("2", "5.00", "22.00", "20.00")], True, "18.00"),
        # VAT added when prices exclude it
        ([("1", "100", "25.5", None)], False, "125.50"),
        ([("2", "100", "25.5", "20")], False, "200.80"),
        # rounded once, to cents, half up: 0.025 -> 0.03; 3 × 0.0125 -> 0.0375 -> 0.04
        ([("1", "0.05", "0", "50")], True, "0.03"),
        ([("1", "0.05", "0", "25"), ("2", "0.05", "0", "25")], True, "0.11"),
        ([("1", "0", "24", None)], False, "0.00"),
    ],
)
def test_items_total(lines, include_vat, total):
    items = [
        Item(title="x", amount=a, price=p, tax=t, merchant_id=1, cp=1, discount=d)
        for a, p, t, d in lines
    ]
    assert pc.items_total(items, include_vat=include_vat) == Decimal(total)
    assert str(pc.items_total(items, include_vat=include_vat)) == total


def test_items_total_is_the_same_sent_and_received():
    payment = with_item(amount="3", price="19.99", discount="15", tax="25.5")
    form = dict(pc.build_form(payment, channel_id="42", secret="s"))
    sent = pc.items_total(payment.items, include_vat=False)
    assert pc.items_total(pc.received_items(form), include_vat=False) == sent
    assert sent == Decimal("63.97")  # 3 × 19.99 × 0.85 × 1.255 = 63.9729975


def test_items_total_refuses_what_the_service_would():
    with pytest.raises(PaymentFieldError) as caught:
        pc.items_total(
            [minimal_payment().items[0], replace(minimal_payment().items[0], amount=0)],
            include_vat=True,
        )
    assert caught.value.field == "ITEM_AMOUNT[1]"


@pytest.mark.parametrize(
    ("text", "charset", "expected"),
    [
        ("Hankinnat – perusteet", "ISO-8859-1", "Hankinnat - perusteet"),
        ("Hankinnat – perusteet", "UTF-8", "Hankinnat - perusteet"),
        ("Kurssi 100 €", "ISO-8859-1", "Kurssi 100 EUR"),
        ("A | B", "UTF-8", "A / B"),
        ("Őrség Kft", "ISO-8859-1", "Orség Kft"),
        ("Åbo Akademi", "ISO-8859-1", "Åbo Akademi"),
        ("日本", "ISO-8859-1", "??"),
        ("rivi\tkaksi", "UTF-8", "rivikaksi"),
    ],
)
def test_clean_text_makes_our_own_texts_fit_to_send(text, charset, expected):
    cleaned = pc.clean_text(text, charset)
    assert cleaned == expected
    cleaned.encode(charset)
