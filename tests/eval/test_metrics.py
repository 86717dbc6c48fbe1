"""Per-example domain metrics, pinned by hand: exact match, ROUGE-L, SQL by execution, shell."""

from __future__ import annotations

import pytest

from afinar.errors import AfinarError
from afinar.eval.metrics import SqlFixture, exact_match, rouge_l, shell_check, sql_match

SCHEMA = """
CREATE TABLE sales (store TEXT, product TEXT, units INTEGER);
INSERT INTO sales VALUES ('Madrid', 'camisas', 10), ('Madrid', 'zapatos', 3), ('Boston', 'camisas', 7);
"""


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    path = tmp_path_factory.mktemp("sql") / "shop.sql"
    path.write_text(SCHEMA)
    return SqlFixture(path)


def test_exact_match_ignores_whitespace_and_a_fence():
    assert exact_match("```\nSELECT 1\n```  ", "SELECT 1")["score"] == 1.0
    assert exact_match("select 1", "SELECT 1")["score"] == 0.0


def test_rouge_l_by_hand():
    # LCS("the cat on the mat", "the cat sat on the mat") = 5 words: P = 5/5, R = 5/6
    assert rouge_l("the cat on the mat", "The cat sat on the mat.")["score"] == pytest.approx(
        2 * 1 * 5 / 6 / (1 + 5 / 6)
    )
    # LCS("a b c d", "b a d c") = 2 (e.g. "a d"): P = R = 1/2
    assert rouge_l("a b c d", "b a d c")["score"] == pytest.approx(0.5)
    assert rouge_l("", "anything")["score"] == 0.0


def test_sql_compares_result_sets(fixture):
    ref = "SELECT product, SUM(units) FROM sales GROUP BY product"
    same_rows_other_order = "SELECT product, SUM(units) AS u FROM sales GROUP BY product ORDER BY u"
    assert sql_match(same_rows_other_order, ref, fixture)["score"] == 1.0
    ordered = "SELECT store, units FROM sales ORDER BY units DESC"
    assert sql_match("SELECT store, units FROM sales ORDER BY units ASC", ordered, fixture)["score"] == 0.0
    assert sql_match("SELECT store FROM sales WHERE units > 5", "SELECT store FROM sales", fixture)["score"] == 0.0
    broken = sql_match("SELEC store FROM sales", ref, fixture)
    assert broken["score"] == 0.0 and "syntax error" in broken["error"]


def test_sql_answers_cannot_write_or_run_forever(fixture):
    write = sql_match("DELETE FROM sales", "SELECT 1", fixture)
    assert write["score"] == 0.0 and "readonly" in write["error"]
    assert len(fixture.run("SELECT * FROM sales")) == 3  # each query gets its own copy
    forever = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    slow = sql_match(forever, "SELECT 1", fixture)
    assert slow["score"] == 0.0 and "interrupted" in slow["error"]


def test_missing_fixture_is_a_clear_error(tmp_path):
    with pytest.raises(AfinarError, match=r"eval\.sql_database not found"):
        SqlFixture(tmp_path / "nope.sql")


def test_shell_needs_bash_syntax_and_a_clean_shellcheck():
    good = shell_check('for f in /data/*.csv; do wc -l "$f"; done')
    assert good["score"] == 1.0 and good["syntax_ok"]
    unsafe = shell_check("rm -rf $DIR/*")
    assert unsafe["score"] == 0.0 and unsafe["syntax_ok"] and "SC2115" in unsafe["shellcheck"][0]
    broken = shell_check("if [ -f x ]; then echo y")
    assert broken["score"] == 0.0 and not broken["syntax_ok"]
