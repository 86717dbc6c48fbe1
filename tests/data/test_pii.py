"""The PII/secret detector: checksums against published valid numbers, every type in ES and EN,
and hard negatives that look like PII but are not."""

import pytest

from afinar.data.pii import TYPES, cif_valid, detect, iban_valid, luhn_valid, nie_valid, nif_valid


@pytest.mark.parametrize(
    ("check", "value", "valid"),
    [
        # Luhn: the worked example on the algorithm's Wikipedia page, and the Visa test card.
        (luhn_valid, "79927398713", True),
        (luhn_valid, "79927398710", False),
        (luhn_valid, "4111111111111111", True),
        # IBAN: examples from the ECBS IBAN standard and the Spanish banking association.
        (iban_valid, "GB82WEST12345698765432", True),
        (iban_valid, "GB82WEST12345698765433", False),
        (iban_valid, "DE89370400440532013000", True),
        (iban_valid, "ES9121000418450200051332", True),
        (iban_valid, "ES912100041845020005133", False),  # one digit short for Spain
        # DNI: 12345678 mod 23 = 14 -> Z; NIE X1234567: 1234567 mod 23 = 19 -> L.
        (nif_valid, "12345678Z", True),
        (nif_valid, "12345678A", False),
        (nie_valid, "X1234567L", True),
        (nie_valid, "X1234567M", False),
        # CIF: published identifiers of Spanish companies and public bodies.
        (cif_valid, "A58818501", True),
        (cif_valid, "Q2826000H", True),
        (cif_valid, "B12345675", False),
    ],
)
def test_checksums_match_published_numbers(check, value, valid):
    assert check(value) is valid


def found(text: str) -> list[tuple[str, str]]:
    return [(s.type, text[s.start : s.end]) for s in detect(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Escríbeme a ana.garcia@correo.es mañana", [("EMAIL", "ana.garcia@correo.es")]),
        ("móvil 612 345 678", [("PHONE", "612 345 678")]),
        ("Llámame al +34 912 345 678", [("PHONE", "+34 912 345 678")]),
        ("Call (415) 555-2671 today", [("PHONE", "(415) 555-2671")]),
        ("our London office: +44 20 7946 0958", [("PHONE", "+44 20 7946 0958")]),
        ("tarjeta 4111-1111-1111-1111 caduca", [("CREDIT_CARD", "4111-1111-1111-1111")]),
        ("Amex 378282246310005 on file", [("CREDIT_CARD", "378282246310005")]),
        ("IBAN ES91 2100 0418 4502 0005 1332 EUR", [("IBAN", "ES91 2100 0418 4502 0005 1332")]),
        ("wire to GB82WEST12345698765432.", [("IBAN", "GB82WEST12345698765432")]),
        ("DNI 12345678-Z del titular", [("ES_NIF", "12345678-Z")]),
        ("NIE X1234567L", [("ES_NIE", "X1234567L")]),
        ("CIF de la empresa: A58818501", [("ES_CIF", "A58818501")]),
        ("SSN 123-45-6789 on the form", [("US_SSN", "123-45-6789")]),
        ("social security number 123456789", [("US_SSN", "123456789")]),
        ("host 10.0.12.7 is down", [("IP_ADDRESS", "10.0.12.7")]),
        ("ipv6 fe80::1ff:fe23:4567:890a here", [("IP_ADDRESS", "fe80::1ff:fe23:4567:890a")]),
        ("db postgres://app:Hunter2x@db.local/sales", [("URL_CREDENTIALS", "app:Hunter2x")]),
        ("key AKIAIOSFODNN7EXAMPLE", [("AWS_KEY", "AKIAIOSFODNN7EXAMPLE")]),
        ("token ghp_" + "a1B2" * 9, [("GITHUB_TOKEN", "ghp_" + "a1B2" * 9)]),
        ("slack xoxb-2048-4096-abcdefABCDEF", [("SLACK_TOKEN", "xoxb-2048-4096-abcdefABCDEF")]),
        ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", [("STRIPE_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")]),
        ("la contraseña es Pa55word!", [("SECRET", "Pa55word!")]),
        ("api_key=9f8b7c6d5e4f3a2b1c0d9e8f", [("SECRET", "9f8b7c6d5e4f3a2b1c0d9e8f")]),
        ("Fecha de nacimiento: 03/05/1980", [("DATE_OF_BIRTH", "03/05/1980")]),
        ("nacida el 7 de julio de 1991", [("DATE_OF_BIRTH", "7 de julio de 1991")]),
        ("DOB: March 12, 1985", [("DATE_OF_BIRTH", "March 12, 1985")]),
        ("Atendido por la Sra. María del Carmen Ruiz", [("PERSON", "María del Carmen Ruiz")]),
        ("Dear John Smith,", [("PERSON", "John Smith")]),
        ('{"customer_name": "Ana Torres"}', [("PERSON", "Ana Torres")]),
    ],
)
def test_each_type_is_found_with_its_exact_span(text, expected):
    assert found(text) == expected


def test_private_keys_and_jwts_are_found_whole():
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5\n-----END EC PRIVATE KEY-----"
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert found(f"key:\n{pem}\nend") == [("PRIVATE_KEY", pem)]
    assert found(f"Bearer {jwt}") == [("JWT", jwt)]


@pytest.mark.parametrize(
    "text",
    [
        "pedido 4111 1111 1111 1112",  # fails Luhn
        "order number 1234567890123456",  # fails Luhn
        "IBAN ES91 2100 0418 4502 0005 1333",  # bad mod-97
        "código ES12 3456 7890",  # too short for any country
        "DNI 12345678A",  # wrong check letter
        "release 1.2.3.4 is out",  # a version, not an address
        "firmware v10.0.0.1",
        "build 2.300.1.5",  # 300 > 255
        "id 550e8400-e29b-41d4-a716-446655440000",  # UUID
        "meeting at 12:30:45",
        "MAC 00:1A:2B:3C:4D:5E",
        "Report period 2023-03-01, born-again sales",  # a date without a birth cue
        "Customer Service will reply",
        "password: ********",
        "token: ${API_TOKEN}",
        "secret: the-recipe",
        "ticket 912345678",  # nine digits but no phone cue and no phone layout
        "SKU AB12-3456-7890",
    ],
)
def test_hard_negatives_are_not_pii(text):
    assert found(text) == []


def test_a_valid_card_number_is_a_card_even_in_a_sentence_about_orders():
    assert found("ref 4000 0000 0000 0002") == [("CREDIT_CARD", "4000 0000 0000 0002")]


def test_overlaps_keep_the_most_specific_type():
    # the e-mail inside credentials belongs to the credentials; a card number is not also a phone
    assert found("ftp://bob:pa55w0rd@files.example.com") == [("URL_CREDENTIALS", "bob:pa55w0rd")]
    assert found("teléfono 4111111111111111") == [("CREDIT_CARD", "4111111111111111")]


def test_every_type_has_a_detector_and_a_test():
    tested = {t for _, pairs in test_each_type_is_found_with_its_exact_span.pytestmark[0].args[1] for t, _ in pairs}
    assert set(TYPES) - tested <= {"PRIVATE_KEY", "JWT"}  # those two are tested above
