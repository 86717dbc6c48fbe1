"""Masking operators, consistency of pseudonyms, validity of surrogates, and masked files."""

import csv
import json
import re

import pytest

from afinar.data.mask import Masker, MaskPolicy, load_policy, mask_file
from afinar.data.pii import cif_valid, detect, iban_valid, luhn_valid, nie_valid, nif_valid
from afinar.errors import AfinarError

TEXT = (
    "Cliente: Sra. Lucía Romero, lucia.romero@correo.es, móvil 612 345 678, DNI 12345678Z, NIE X1234567L, "
    "CIF A58818501, tarjeta 4111 1111 1111 1111, IBAN ES91 2100 0418 4502 0005 1332, SSN 123-45-6789, "
    "IP 10.1.2.3, nacida el 03/05/1980, key AKIAIOSFODNN7EXAMPLE, password: Tr0ub4dor&3"
)


def masker(op: str, key: bytes = b"test key") -> Masker:
    return Masker(MaskPolicy(default=op, secrets=op), key=key)


def test_redact_replaces_each_entity_with_its_type():
    out = masker("redact").mask("mail ana@x.es or call 612 345 678")
    assert out == "mail [EMAIL] or call [PHONE]"


def test_mask_keeps_the_last_four_characters_and_the_layout():
    assert masker("mask").mask("card 4111 1111 1111 1111.") == "card **** **** **** 1111."


def test_hash_is_the_keyed_hmac_and_ignores_formatting():
    import hashlib
    import hmac

    m = masker("hash")
    a = m.mask("IBAN ES91 2100 0418 4502 0005 1332")
    b = m.mask("IBAN ES9121000418450200051332")
    expected = hmac.new(b"test key", b"IBAN\x00ES9121000418450200051332", hashlib.sha256).hexdigest()[:12]
    assert a == b == f"IBAN [IBAN:{expected}]"
    assert masker("hash", key=b"other key").mask("IBAN ES9121000418450200051332") != b


def test_surrogates_are_consistent_valid_and_of_the_same_type():
    m = masker("surrogate")
    out = m.mask(TEXT)
    assert m.mask(TEXT) == out  # the same value always gets the same fake
    before = [s.type for s in detect(TEXT)]
    after = detect(out)
    assert [s.type for s in after] == before  # every fake is still recognisably its type
    values = {s.type: out[s.start : s.end] for s in after}
    original = {s.type: TEXT[s.start : s.end] for s in detect(TEXT)}
    for kind, value in values.items():
        assert value != original[kind], kind
    assert luhn_valid(re.sub(r"\D", "", values["CREDIT_CARD"]))
    assert iban_valid(values["IBAN"].replace(" ", "")) and values["IBAN"].startswith("ES")
    assert nif_valid(values["ES_NIF"]) and nie_valid(values["ES_NIE"]) and cif_valid(values["ES_CIF"])
    assert re.fullmatch(r"[a-z.]+\d*@(\w+\.)?example(\.(com|org|net))?", values["EMAIL"])  # RFC 2606 names
    assert values["IP_ADDRESS"].startswith(("192.0.2.", "198.51.100.", "203.0.113."))
    assert values["PHONE"][0] == "6" and re.fullmatch(r"\d{3} \d{3} \d{3}", values["PHONE"])


def test_secrets_are_redacted_by_default_while_pii_gets_surrogates():
    out = Masker(key=b"k").mask("AKIAIOSFODNN7EXAMPLE for ana@x.es")
    assert re.fullmatch(r"\[AWS_KEY\] for [a-z.]+\d*@(\w+\.)?example(\.(com|org|net))?", out)


def test_policy_file_and_its_errors(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text("default: redact\noperators:\n  EMAIL: hash\n")
    policy = load_policy(p)
    assert (policy.operator("EMAIL"), policy.operator("PHONE"), policy.operator("JWT")) == ("hash", "redact", "redact")
    assert load_policy("mask").operator("JWT") == "mask"
    p.write_text("operators:\n  EMAL: hash\n")
    with pytest.raises(AfinarError, match=r"operators.EMAL' is not an entity type; accepted: PRIVATE_KEY"):
        load_policy(p)
    p.write_text("default: scramble\n")
    with pytest.raises(AfinarError, match=r"field 'default': operator 'scramble' is not one of redact"):
        load_policy(p)
    with pytest.raises(AfinarError, match="neither an operator"):
        load_policy(tmp_path / "missing.yaml")


def test_mask_file_jsonl_keeps_keys_order_and_line_count(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [
        {"instruction": "Email ana@x.es", "output": "Done", "scenario": "normal"},
        {"messages": [{"role": "user", "content": "call 612 345 678"}, {"role": "assistant", "content": "ok"}]},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    n = mask_file(src, tmp_path / "out.jsonl", masker("redact"))
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert n == 2
    assert out[0] == {"instruction": "Email [EMAIL]", "output": "Done", "scenario": "normal"}
    assert out[1]["messages"][0] == {"role": "user", "content": "call [PHONE]"}


def test_mask_file_csv_keeps_columns(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("instruction,input,output\nWrite to ana@x.es,,ok\n")
    mask_file(src, tmp_path / "out.csv", masker("redact"))
    with (tmp_path / "out.csv").open() as f:
        assert list(csv.DictReader(f)) == [{"instruction": "Write to [EMAIL]", "input": "", "output": "ok"}]


def test_a_bad_row_leaves_no_output_behind(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "ana@x.es", "completion": "a"}\n{"prompt": \n')
    with pytest.raises(AfinarError, match=r"in.jsonl:2: not valid JSON"):
        mask_file(src, tmp_path / "out.jsonl", masker("redact"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_refuses_to_overwrite_its_input(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "a", "completion": "b"}\n')
    with pytest.raises(AfinarError, match="refusing to overwrite the input"):
        mask_file(src, src, masker("redact"))
