"""The detector on the committed labeled corpora (bench/data), scored as bench/pii_quality.py
scores it. The labels come from Faker values validated with python-stdnum and from hand-written
cases, not from our detector; the floors are the issue's targets (overall F2 >= 0.95 on the final
held-out set, v4) and the measured PERSON level there (README)."""

import importlib.util

import pytest

from afinar.data.pii import TYPES
from tests.conftest import REPO

CHECKSUMMED = ("CREDIT_CARD", "IBAN", "ES_NIF", "ES_NIE", "ES_CIF")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pii_quality", REPO / "bench" / "pii_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["pii_corpus", "pii_holdout", "pii_holdout2", "pii_holdout3", "pii_holdout4"])
def test_checksum_validated_types_have_precision_and_recall_of_at_least_098(bench, name):
    rows = bench.load(REPO / "bench" / "data" / f"{name}.jsonl")
    scores = bench.score(rows, bench.afinar_predictions(rows), TYPES)
    for kind in CHECKSUMMED:
        assert scores[kind]["precision"] >= 0.98 and scores[kind]["recall"] >= 0.98, (kind, scores[kind])


def test_overall_f2_on_the_development_and_final_held_out_corpora(bench):
    dev = bench.load(REPO / "bench" / "data" / "pii_corpus.jsonl")
    held = bench.load(REPO / "bench" / "data" / "pii_holdout4.jsonl")
    assert bench.score(dev, bench.afinar_predictions(dev), TYPES)["ALL"]["f2"] >= 0.95
    final = bench.score(held, bench.afinar_predictions(held), TYPES)
    assert final["ALL"]["precision"] >= 0.99 and final["ALL"]["f2"] >= 0.95
    assert final["PERSON"]["precision"] >= 0.99 and final["PERSON"]["recall"] >= 0.8


def test_the_corpus_is_large_and_covers_every_type_in_both_languages(bench):
    rows = [r for name in ("pii_corpus", "pii_holdout4") for r in bench.load(REPO / "bench" / "data" / f"{name}.jsonl")]
    assert sum(len(r["spans"]) for r in rows) >= 400
    present = {lang: {s[2] for r in rows if r["lang"] == lang for s in r["spans"]} for lang in ("es", "en")}
    # every type in Spanish text but the US SSN; every type in English text but the Spanish IDs
    assert set(TYPES) - present["es"] == {"US_SSN"}
    assert set(TYPES) - present["en"] == {"ES_NIF", "ES_NIE", "ES_CIF"}
    assert sum(not r["spans"] for r in rows) >= 30  # hard negatives: texts with nothing to find
