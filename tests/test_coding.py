"""The draft coder: the seed letter against the gold coding, our own rephrasing sets (different
words, negations, qualifiers, two-code sentences), the rules as data, and the fast paths."""

from __future__ import annotations

import re
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
# blind5 was written after the last tuning round and never tuned for: it stays the honest estimate
# for the shipped rules (its misses are left in place, see benchmarks/README_coder.md).
TUNED_SETS = ("dev", "holdout", "blind", "blind2", "blind3", "blind4")
SETS = (*TUNED_SETS, "blind5")


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


# Thresholds met after tuning (the first-run figures on each blind set, before tuning, are the
# honest estimate for unseen wording; they are logged in benchmarks/README_coder.md, not tested).
@pytest.mark.parametrize("name,min_p,min_r,min_items", [
    ("dev", 0.97, 0.97, 40), ("holdout", 0.97, 0.97, 40), ("blind", 0.95, 0.95, 40),
    ("blind2", 0.93, 0.93, 40), ("blind3", 0.97, 0.97, 80), ("blind4", 0.97, 0.97, 60),
    ("blind5", 0.97, 0.95, 45)])
def test_rephrasing_sets_precision_and_recall(codebook, name, min_p, min_r, min_items):
    df = load_set(name)
    assert df["item_id"].nunique() >= min_items
    p, r, *_ = score(df, codebook)
    assert p >= min_p and r >= min_r, (name, p, r)


def test_rephrasing_sets_cover_every_framed_criterion_and_every_kind(codebook):
    df = pd.concat([load_set(n) for n in SETS])
    assert df["item_id"].nunique() >= 400
    # each of the newer blind sets covers all 19 framed criteria on its own
    for name in ("blind3", "blind4", "blind5"):
        assert set(load_set(name)["criterion_id"].dropna()) == set(codebook.framed_ids), name
    assert set(df["criterion_id"].dropna()) == set(codebook.framed_ids)
    assert set(df["kind"]) == {"paraphrase", "negated", "qualified", "two_code", "distractor"}
    # a negated or qualified variant for every criterion, not only the positive wording
    varied = df[df["kind"].isin(["negated", "qualified"])]
    assert set(varied["criterion_id"].dropna()) == set(codebook.framed_ids)


@pytest.mark.parametrize("name", TUNED_SETS)
def test_core_subset_codes_exactly(codebook, name):
    """Negated, qualified and two-code items and the distractors must be coded exactly (every
    code and nothing else) - the cases where a keyword coder goes wrong."""
    df = load_set(name)
    *_, codes = score(df, codebook)
    for item, g in df[df["kind"].isin(["negated", "qualified", "two_code", "distractor"])].groupby("item_id"):
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
    # synonym lists and stems: training, leaders, visits, records, named crime types
    ("Response officers have had no formal instruction in crime prevention.", {("P6", "none")}),
    ("Senior leaders stress the importance of prevention to their teams.", {("P2", "strong")}),
    ("Every victim who reports a crime receives a visit from an officer.", {("A2", "yes")}),
    ("The force does not record whether an officer attended a crime.", {("A4", "no")}),
    ("The prevention strategy covers domestic burglary and vehicle crime only.", {("P1", "some_crime_types")}),
    ("The force has a crime reduction strategy that covers all types of crime.", {("P1", "force_wide")}),
    # qualifiers: a minority, part of; a criterion's own cue: a small number of officers = limited
    ("In a minority of cases, victims were asked to look for CCTV themselves.", {("A8", "in_some_cases")}),
    ("Crime prevention training has reached only part of the workforce.", {("P6", "some_staff")}),
    ("Only a small number of officers have mobile data terminals.", {("F4", "limited")}),
    # 'not been trained' says PCSOs go beyond their training (yes), not that they do not investigate
    ("PCSOs investigate crimes for which they have not been trained.", {("A9", "yes")}),
    # planned change vs description: 'intends to prevent' is not a plan still to come
    ("There is no document setting out how the force intends to prevent crime.", {("P1", "none")}),
    # a device named only as the means of another finding is not coded on its own ...
    ("The force does not know how much time officers save by using mobile devices.", {("F3", "none")}),
    # ... but is when it is the subject
    ("Officers save time because they have mobile devices.", {("F4", "some")}),
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


def _reference_rules(codebook) -> Rules:
    """The shipped rules with every fast path switched off: no gate (every topic pattern runs on
    every finding, found with the plain word-start search, never an ASCII twin), each scanner
    run on its own with its look-behind, the cues always read again on the text with neutral
    phrases blanked out, refer-back phrases searched in the words cut out, clause breaks always
    scanned."""
    import dataclasses

    slow = Rules.load(RULES_PATH, codebook)
    slow._always = [(cr, dataclasses.replace(e, fast_ok=(False,) * len(e.bodies)))
                    for cr in slow.criteria for e in cr.entries]
    slow._gate_body = None
    scanners = slow._multi.scanners

    class Separate:
        def scan(self, spaced, leads=None, ascii_text=False):
            return [sc.scan(spaced[1:]) for sc in scanners]

    slow._multi = Separate()
    slow.cues.mask_sensitive = True
    plain_hits = slow._hits  # topics searched with the regexes as compiled (no ASCII twins)
    slow._hits = lambda low, t, spaced=None, leads=None, ascii_text=False: plain_hits(low, t, spaced)
    slow._refer_back_lead = None  # refer-back phrases searched in the words cut out
    slow._other_break_firsts = (None,) * len(slow._other_breaks)  # other clause breaks always scanned
    for sc in [slow.cues, slow.neutral, *slow.clauses,
               *(x for cr in slow.criteria for x in (cr.cues, cr.neutral) if x is not None)]:
        if sc is not None:
            sc._led = None  # every scanner with its look-behind
    return slow


def _guard_texts() -> list[str]:
    import random

    texts = pd.concat([load_set(n) for n in SETS])["text"].drop_duplicates().tolist()
    texts += parse_letter(RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt", "r",
                          ForceResolver.from_files(RAW / "reference" / "forces.csv"))[1]["text"].tolist()
    rng = random.Random(0)  # two findings run together, with odd spacing, case and characters
    mixed = [f"{rng.choice(texts)}  {rng.choice(texts).upper() if i % 7 == 0 else rng.choice(texts)}"
             for i in range(300)]
    mixed += [t.replace("the force", "the Force\u2019s team").replace(" ", "\u00a0", 2) for t in texts[:60]]
    mixed += ["Zoë's team: no strategy; some (not all) officers—trained—in crime prevention.",
              "as well as good practice , but not all ; however: no"]
    return texts + mixed


def test_fast_paths_never_change_a_result(codebook):
    """The gate, the shared scanning pass and the one-call topic search must code exactly like
    running every pattern on its own on every finding (the same codes, values, confidence,
    rule and evidence)."""
    fast = Rules.load(RULES_PATH, codebook)
    slow = _reference_rules(codebook)
    for t in _guard_texts():
        assert fast.code_text(t) == slow.code_text(t), t


def test_every_gate_word_is_in_every_match(codebook):
    """The gate is sound: for each set in a topic entry's `needs`, every match of the entry holds
    a word that starts with one of the set's strings (so the gate never hides a match)."""
    import re

    rules = Rules.load(RULES_PATH, codebook)

    def has_word_start(text: str, need) -> bool:
        return any(re.search(r"(?<!\w)" + re.escape(k), text) for k in need)

    checked = 0
    for t in _guard_texts():
        low = " ".join(t.split()).lower()
        for cr in rules.criteria:
            for e in cr.entries:
                matches = [[m.group() for m in rx.finditer(low)
                            if not (m.start() and (low[m.start() - 1].isalnum() or low[m.start() - 1] == "_"))]
                           for rx in e.regexes]
                if not all(matches):
                    continue
                checked += 1
                for need in e.needs:
                    if len(e.regexes) == 1:  # one phrase: each of its matches holds the word
                        assert all(has_word_start(x, need) for x in matches[0]), (cr.cid, need, matches[0])
                    else:                    # several phrases: the finding holds it
                        assert has_word_start(low, need), (cr.cid, need, low)
    assert checked > 300


@pytest.mark.parametrize("phrase,text,matches", [
    (r"(?:set|sets|setting) out|describ\w*", "describes", True),   # the second alternative alone
    (r"(?:set|sets|setting) out|describ\w*", "sdescribes", False),
    (r"(?:a|b)c|(?:d)?e", "e", True),
    (r"(?:a|b)c|(?:d)?e", "bc", True),
])
def test_phrase_alternatives_keep_their_meaning_when_regrouped(phrase, text, matches):
    """The fast regex layout (alternatives grouped by first letter) matches the same words as the
    phrase as written."""
    import re

    from analysis.pattern_facts import bucketed

    assert bool(re.fullmatch(bucketed([phrase]), text)) is matches
    assert bool(re.fullmatch(phrase, text)) is matches


def test_phrases_may_use_plain_groups(tmp_path, codebook):
    """A phrase written with a capturing group '(a|b)' codes like one with '(?:a|b)'."""
    text = _rules_text()
    assert "    - laptops?\n" in text
    custom = tmp_path / "rules.yaml"
    custom.write_text(text.replace("    - laptops?\n", "    - (laptop|notebook)s?\n"), encoding="utf-8")
    df = pd.DataFrame({"finding_id": ["x", "y"], "text": ["Officers have no notebooks on patrol.",
                                                        "Some officers use laptops on patrol."]})
    out = code_findings(df, codebook, rules=custom)
    assert out[["criterion_id", "value"]].values.tolist() == [["F4", "none"], ["F4", "some"]]


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
    assert main(["code-findings", str(bad), "-o", str(tmp_path / "out2.csv")]) == 1
    assert "bad.csv, header: missing column(s)" in capsys.readouterr().err
    # the input is never the output (it was replaced by the codes), even with --force
    assert main(["code-findings", str(src), "-o", str(src), "--force"]) == 1
    assert "is also the input" in capsys.readouterr().err
    assert main(["code-findings", str(src), "-o", str(out)]) == 1 and "exists already" in capsys.readouterr().err


def test_factored_alternatives_keep_the_first_match():
    """Alternatives that share first letters are grouped (a(?:b|c)) only where no alternative in
    between could match at the same place: every search finds the same span as the plain '|' join."""
    import random
    import re

    from analysis.pattern_facts import factored

    assert factored(["ab", "ac", "d", "", "ae"]) == "a(?:b|c)|d||ae"
    assert factored(["not all", "no", "not", r"n\w*"]) == r"n(?:o(?:t all||t)|\w*)"
    rng = random.Random(3)
    atoms = ["a", "b", "ab", "a b", "b?", r"\w*", "(?:a|b)", "[ab]", " ", "a+"]
    texts = ["", "a", "ab", "aab", "a b", "ba ab", "abab b", "b a a", "bbb", " ab a"]
    for _ in range(2000):
        alts = ["".join(rng.choice(atoms) for _ in range(rng.randint(0, 3))) for _ in range(rng.randint(1, 6))]
        plain, grouped = re.compile("|".join(alts)), re.compile(factored(alts))
        for t in texts:
            assert [m.span() for m in plain.finditer(t)] == [m.span() for m in grouped.finditer(t)], (alts, t)


def test_rules_are_cached_per_file_and_modification(tmp_path, codebook):
    """load_rules compiles a rules file once; an edited file is compiled again."""
    import os

    path = tmp_path / "rules.yaml"
    path.write_text(_rules_text(), encoding="utf-8")
    first = load_rules(codebook, path)
    assert load_rules(codebook, path) is first
    path.write_text(_rules_text().replace("    - laptops?\n", "    - (laptop|notebook)s?\n"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = load_rules(codebook, path)
    assert second is not first
    assert code_findings(pd.DataFrame({"finding_id": ["x"], "text": ["Officers have no notebooks on patrol."]}),
                         codebook, rules=second)["value"].tolist() == ["none"]


def test_a_bad_look_behind_is_still_reported_when_the_rules_are_read(tmp_path, codebook):
    """Phrases are checked by parsing them when the rules are read (compiling waits until a
    finding needs them); what only the compiler catches (a look-behind of varying width) is
    still reported then, with where and how to fix."""
    text = _rules_text()
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("    - laptops?\n", "    - '(?<=a\\w*)laptops?'\n", 1), encoding="utf-8")
    with pytest.raises(InputError, match="not a valid pattern") as exc:
        Rules.load(bad, codebook)
    assert "Fix:" in str(exc.value)


def test_topics_are_compiled_when_first_needed(codebook):
    """Loading the rules compiles no topic pattern; coding a finding compiles only the topics
    its words may bring up, and codes as the fully compiled rules do."""
    rules = Rules.load(RULES_PATH, codebook)
    entries = [e for cr in rules.criteria for e in cr.entries]
    forms = ("fast", "regexes", "fast_ascii", "regexes_ascii")
    assert not any(f in e.__dict__ for e in entries for f in forms)
    text = "Officers rarely use their mobile devices to record crime on patrol."
    got = rules.code_text(text)
    compiled = [e for e in entries if "fast_ascii" in e.__dict__]
    assert 0 < len(compiled) < len(entries) / 4
    # ASCII text uses the ASCII twins only: the Unicode forms are not compiled as well
    assert not any("fast" in e.__dict__ or "regexes" in e.__dict__ for e in entries)
    assert "rx" not in rules._multi.__dict__ and "_gate_re" not in rules.__dict__
    assert got == _reference_rules(codebook).code_text(text)
    rules.code_text("Officers use their mobile devices in Ynys M\u00f4n.")  # non-ASCII: the Unicode forms
    assert "rx" in rules._multi.__dict__ and "_gate_re" in rules.__dict__


@pytest.mark.parametrize("rows,message", [
    ("finding_id,text\n,The force attends every crime.\nf2,Thank you.\n", r"in.csv, line\(s\) 2: blank finding_id"),
    ("finding_id,text\nf1,The force attends every crime.\nf1,Thank you.\n",
     r"in.csv, line\(s\) 2, 3: finding_id used for more than one finding"),
    ("id,words\nx,y\n", r"in.csv, header: missing column\(s\) \['finding_id', 'text'\] \(found \['id', 'words'\]\)"),
])
def test_cli_code_findings_refuses_ids_that_would_not_trace_back(tmp_path, capsys, rows, message):
    """A blank id was coded into a row with no id, a repeated one coded twice; a wrong header
    gave '<input>, columns' without the file's name."""
    src = tmp_path / "in.csv"
    src.write_text(rows, encoding="utf-8")
    assert main(["code-findings", str(src), "-o", str(tmp_path / "out.csv")]) == 1
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out.csv").exists()
