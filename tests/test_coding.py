"""The draft coder: the seed letter against the gold coding, our own rephrasing sets (different
words, negations, qualifiers, two-code sentences), the rules as data, and the fast paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.codebook import Codebook
from analysis.coding import OUTPUT_COLUMNS, RULES_PATH, Rules, code_findings, load_rules
from analysis.errors import InputError
from analysis.forces import ForceResolver
from analysis.letters import parse_letter
from analysis.paths import RAW

FIXTURES = Path(__file__).parent / "fixtures"
SETS = ("dev", "holdout", "blind", "blind2")


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return Codebook.load(RAW / "codebook.yaml")


def load_set(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"rephrasings_{name}.csv", dtype="string")


def score(df: pd.DataFrame, codebook: Codebook) -> tuple[float, float, set, set, pd.DataFrame]:
    items = df.drop_duplicates("item_id")[["item_id", "area", "text"]].rename(columns={"item_id": "finding_id"})
    codes = code_findings(items, codebook)
    gold = {(r.item_id, r.criterion_id, r.value) for r in df.itertuples() if pd.notna(r.criterion_id)}
    pred = {(r.finding_id, r.criterion_id, r.value) for r in codes.itertuples() if pd.notna(r.criterion_id)}
    tp = len(gold & pred)
    return tp / len(pred), tp / len(gold), gold, pred, codes


def code_one(text: str, codebook: Codebook, area: str | None = None) -> set[tuple[str, str]]:
    out = code_findings(pd.DataFrame({"finding_id": ["x"], "area": [area], "text": [text]}), codebook)
    return {(c, v) for c, v in zip(out["criterion_id"], out["value"]) if pd.notna(c)}


# ---------------------------------------------------------------------------------------------
def test_seed_codes_exactly_to_the_gold(codebook):
    resolver = ForceResolver.from_files(RAW / "reference" / "forces.csv", RAW / "reference" / "force_aliases.csv")
    _, findings = parse_letter(RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt",
                               "core_business_2014", resolver)
    codes = code_findings(findings, codebook).merge(findings[["finding_id", "finding_no", "force_id", "round"]])
    gold = pd.read_csv(FIXTURES / "norfolk_2014_gold.csv")
    got = sorted(zip(codes["round"], codes["finding_no"].astype(int), codes["criterion_id"], codes["value"],
                     codes["judgement"]))
    want = sorted(zip(gold["round"], gold["finding_no"], gold["criterion_id"], gold["value"], gold["judgement"]))
    assert len(want) == 17 and got == want
    # finding 1 carries two codes, in text order: P2 (strong culture) then P1 (some crime types)
    first = codes[codes["finding_no"] == 1]
    assert first["criterion_id"].tolist() == ["P2", "P1"]


@pytest.mark.parametrize("name,min_p,min_r", [
    ("dev", 0.97, 0.97), ("holdout", 0.97, 0.97), ("blind", 0.95, 0.95), ("blind2", 0.93, 0.93)])
def test_rephrasing_sets_precision_and_recall(codebook, name, min_p, min_r):
    df = load_set(name)
    assert df["item_id"].nunique() >= 40
    p, r, *_ = score(df, codebook)
    assert p >= min_p and r >= min_r, (name, p, r)


def test_rephrasing_sets_cover_every_framed_criterion_and_every_kind(codebook):
    df = pd.concat([load_set(n) for n in SETS])
    assert df["item_id"].nunique() >= 200
    assert set(df["criterion_id"].dropna()) == set(codebook.framed_ids)
    assert set(df["kind"]) == {"paraphrase", "negated", "qualified", "two_code", "distractor"}
    # a negated or qualified variant for every criterion, not only the positive wording
    varied = df[df["kind"].isin(["negated", "qualified"])]
    assert set(varied["criterion_id"].dropna()) == set(codebook.framed_ids)


@pytest.mark.parametrize("name", SETS)
def test_core_subset_codes_exactly(codebook, name):
    """Negated, qualified and two-code items and the distractors must be coded exactly (every
    code and nothing else) - the cases where a keyword coder goes wrong."""
    df = load_set(name)
    *_, codes = score(df, codebook)
    known_limits = {"c28", "c35"}  # see the benchmark: 'Officers, not victims, ...'; F4 named in passing
    for item, g in df[df["kind"].isin(["negated", "qualified", "two_code", "distractor"])].groupby("item_id"):
        if item in known_limits:
            continue
        want = {(c, v) for c, v in zip(g["criterion_id"], g["value"]) if pd.notna(c)}
        c = codes[codes["finding_id"] == item]
        got = {(a, b) for a, b in zip(c["criterion_id"], c["value"]) if pd.notna(a)}
        assert got == want, (item, g["text"].iloc[0], got)


@pytest.mark.parametrize("text,want", [
    # negation words
    ("The force has no written crime prevention strategy.", {("P1", "none")}),
    ("The force has yet to write a crime prevention strategy.", {("P1", "none")}),
    ("The force lacks a culture of preventative policing.", {("P2", "weak")}),
    ("The force does not evaluate its prevention activity.", {("P5", "little_or_none")}),
    ("Officers are not trained in crime prevention.", {("P6", "none")}),
    # qualifiers
    ("Some but not all officers have been trained in crime prevention.", {("P6", "some_staff")}),
    ("In most cases investigations showed effective supervisory oversight.", {("A5", "good")}),
    ("The force has a limited understanding of demand.", {("F1", "limited")}),
    ("The problem-solving database is used inconsistently.", {("P4", "used_inconsistently")}),
    # synonyms: call handlers / call takers / control room staff
    ("Call handlers consistently identify vulnerable victims.", {("A3", "consistent")}),
    ("Call takers consistently identify vulnerable victims.", {("A3", "consistent")}),
    ("Control room staff consistently identify vulnerable victims.", {("A3", "consistent")}),
    # IOM / Integrated Offender Management
    ("The IOM scheme is well managed.", {("A6", "well_managed")}),
    ("The Integrated Offender Management scheme is well managed.", {("A6", "well_managed")}),
    # tablets / hand-held devices / mobile data terminals / smartphones
    ("Officers have no tablets.", {("F4", "none")}),
    ("Officers have no hand-held devices.", {("F4", "none")}),
    ("Officers have no mobile data terminals.", {("F4", "none")}),
    ("Officers have no smartphones.", {("F4", "none")}),
    # a two-code sentence
    ("The force attends every reported crime, but call handlers do not always identify repeat victims.",
     {("A2", "yes"), ("A3", "inconsistent")}),
])
def test_negation_qualifiers_and_synonyms(codebook, text, want):
    assert code_one(text, codebook) == want


def test_uncoded_findings_keep_a_row_and_order_is_kept(codebook):
    df = pd.DataFrame({"finding_id": ["a", "b", "c", "d"], "area": ["prevention", None, "attendance", ""],
                       "text": ["HMIC thanks the force for its help.", "The IOM scheme is weak.", None, "  "]})
    out = code_findings(df, codebook)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out["finding_id"].tolist() == ["a", "b", "c", "d"]
    assert out["criterion_id"].isna().tolist() == [True, False, True, True]
    assert (out.loc[out["criterion_id"].isna(), "rule"] == "none").all()
    assert out.loc[1, "value"] == "weak" and out.loc[1, "judgement"] == "negative"
    assert str(out["confidence"].dtype) == "Float64" and str(out["criterion_id"].dtype) == "string"


def test_codes_carry_rule_evidence_and_a_confidence_that_reflects_the_evidence(codebook):
    df = pd.DataFrame({"finding_id": ["cue", "default", "other_area"],
                       "area": ["freeing_time", "freeing_time", "prevention"],
                       "text": ["The force has a limited understanding of demand.",
                                "The force understands the time savings from its new technology.",
                                "The force has a limited understanding of demand."]})
    out = code_findings(df, codebook).set_index("finding_id")
    assert out.loc["cue", "rule"] == "F1.cue.weak"
    assert out.loc["cue", "evidence"] == "understanding of demand | limited"
    assert out.loc["cue", "confidence"] >= 0.8
    assert out.loc["default", "rule"] == "F3.default" and 0.5 <= out.loc["default", "confidence"] < 0.8
    # the same words under another area's heading are less certain
    assert out.loc["other_area", "confidence"] < out.loc["cue", "confidence"]
    assert ((out["confidence"] >= 0) & (out["confidence"] <= 1)).all()


def test_missing_columns_are_an_input_error(codebook):
    with pytest.raises(InputError, match="finding_id"):
        code_findings(pd.DataFrame({"text": ["x"]}), codebook)


# ---------------------------------------------------------------------------------------------
# Rules are data
# ---------------------------------------------------------------------------------------------
def _rules_text() -> str:
    return RULES_PATH.read_text(encoding="utf-8")


def test_a_synonym_added_to_the_yaml_changes_the_coding(tmp_path, codebook):
    text = "Officers have no ruggedised notebooks on patrol."
    assert code_one(text, codebook) == set()
    custom = tmp_path / "rules.yaml"
    custom.write_text(_rules_text().replace("    - laptops?\n", "    - laptops?\n    - ruggedised notebooks?\n"),
                      encoding="utf-8")
    df = pd.DataFrame({"finding_id": ["x"], "text": [text]})
    out = code_findings(df, codebook, rules=custom)
    assert out[["criterion_id", "value"]].values.tolist() == [["F4", "none"]]


@pytest.mark.parametrize("change,message", [
    (("  P1:\n    topic:", "  P9:\n    topic:"), "'P9' is not in the codebook"),
    (("values: {partial: some_crime_types, negation: none,", "values: {partial: sometimes, negation: none,"),
     "'sometimes' is not allowed for P1"),
    (("    - lack\\w*\n", "    - lack(\\w*\n"), "not a valid pattern"),
    (('    - "no"\n', "    - no\n"), "put quotes around it"),
    (("[\"{call_handlers}\"", "[\"{call_handler}\""), "unknown synonym list"),
    (("values: {partial: developing, negation: weak, weak: weak, mostly: strong, strong: strong, default: strong}",
      "values: {partial: developing, negation: weak}"), "no value for"),
])
def test_bad_rules_are_reported_with_where_and_how_to_fix(tmp_path, codebook, change, message):
    text = _rules_text()
    assert change[0] in text
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(InputError, match=message) as exc:
        Rules.load(bad, codebook)
    assert "Fix:" in str(exc.value)


def test_every_framed_criterion_has_rules_and_values_from_the_codebook(codebook):
    rules = load_rules(codebook)
    assert {cr.cid for cr in rules.criteria} == set(codebook.framed_ids)
    for cr in rules.criteria:
        assert set(cr.values.values()) <= set(codebook[cr.cid].values)


def test_the_literal_gate_never_changes_a_result(codebook):
    """The fast path (topic regexes only run when one of their literal words occurs) must code
    exactly like running every topic regex on every finding."""
    fast = Rules.load(RULES_PATH, codebook)
    slow = Rules.load(RULES_PATH, codebook)
    slow._always = [(cr, e) for cr in slow.criteria for e in cr.entries]
    slow._gate_re = None
    texts = pd.concat([load_set(n) for n in SETS])["text"].drop_duplicates().tolist()
    texts += parse_letter(RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt", "r",
                          ForceResolver.from_files(RAW / "reference" / "forces.csv"))[1]["text"].tolist()
    for t in texts:
        assert fast.code_text(t) == slow.code_text(t), t


def test_cli_code_findings(tmp_path, capsys):
    src = tmp_path / "in.csv"
    pd.DataFrame({"finding_id": ["f1", "f2"], "area": ["attendance", ""],
                  "text": ["The force does not attend every reported crime.", "Thank you."]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    assert main(["code-findings", str(src), "-o", str(out)]) == 0
    df = pd.read_csv(out, dtype="string")
    assert df["criterion_id"].tolist()[0] == "A2" and df["value"].tolist()[0] == "no"
    assert pd.isna(df["criterion_id"].tolist()[1])
    assert "1 finding(s) uncoded" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["x"], "words": ["y"]}).to_csv(bad, index=False)
    assert main(["code-findings", str(bad), "-o", str(out)]) == 1
