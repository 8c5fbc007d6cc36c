"""The facts the coder derives from its rules' patterns, kept in the pattern store (pattern_facts._facts,
regex_store.derived): rules read with the store behave exactly as rules derived afresh, and a
damaged or foreign store, edited rules, another codebook wording or another coder only mean
deriving (some) facts again. The package's shipped store is left out here (shipped=None): see
tests/test_shipped_patterns.py."""

from __future__ import annotations

import copy
import dataclasses
import json
import zlib
from pathlib import Path

import pandas as pd
import pytest

from analysis import coding, pattern_facts, regex_store, safeyaml
from analysis.codebook import Codebook
from analysis.paths import RAW



@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return Codebook.load(RAW / "codebook.yaml")


@pytest.fixture(scope="module")
def doc() -> dict:
    return safeyaml.safe_load(coding.RULES_PATH.read_text(encoding="utf-8"))


def _scanner(sc):
    if sc is None:
        return None
    led = sc._led
    return (sc._ordered, sc.body, sc.word, sc.mask_sensitive, None if led is None else led.pattern)


def derived(rules: coding.Rules) -> dict:
    """Everything Rules holds that was derived from the patterns' texts (the lazily derived facts
    included: call it while the store under test is open)."""
    def pattern(rx):
        return None if rx is None else rx.pattern

    gate = {k: sorted((rank, cr.cid, e, tuple(frozenset(o) for o in others))
                      for rank, cr, e, others in v)
            for k, v in rules._gate_entries.items()}
    return {
        "criteria": [(cr.cid, cr.entries, _scanner(cr.cues), _scanner(cr.neutral), pattern(cr.passing))
                     for cr in rules.criteria],
        "scanners": [_scanner(x) for x in (rules.cues, rules.neutral, *rules.clauses)],
        "gate": (rules._gate_body, gate, [(cr.cid, e) for cr, e in rules._always]),
        "multi": (rules._multi._body, rules._multi._any_lead, rules._other_break_firsts),
        "refer_back": (pattern(rules.refer_back_re), pattern(rules._refer_back_lead),
                       pattern(rules._first_words), pattern(rules.contrast_openers)),
    }


def _codes(rules, coder_sets, codebook) -> dict[str, pd.DataFrame]:
    return {name: coding.code_findings(df, codebook, rules) for name, df in coder_sets.items()}


def test_rules_read_with_the_store_equal_rules_derived_afresh(tmp_path, codebook, coder_sets):
    fresh = coding.Rules.load(None, codebook)
    want, want_codes = derived(fresh), _codes(fresh, coder_sets, codebook)
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None) as cold:
        rules = coding.Rules.load(None, codebook)
        assert derived(rules) == want
    assert cold.fact_misses > 300 and cold.fact_hits == 0
    with regex_store.opened(path, shipped=None) as warm:
        rules = coding.Rules.load(None, codebook)
        assert derived(rules) == want
        got_codes = _codes(rules, coder_sets, codebook)
    assert warm.fact_misses == 0 and warm.fact_hits == cold.fact_misses  # nothing parsed again
    for name, codes in want_codes.items():
        assert len(codes) and got_codes[name].equals(codes), name


def _store_with_facts(path: Path, codebook) -> None:
    with regex_store.opened(path, shipped=None):
        derived(coding.Rules.load(None, codebook))


def _rewrite(path: Path, change) -> None:
    """The store file with its entries changed by ``change(entries)`` and a correct header."""
    head, _, body = path.read_bytes().partition(b"\n")
    entries = json.loads(body)
    change(entries)
    body = json.dumps(entries).encode()
    doc = json.loads(head)
    doc["crc32"] = zlib.crc32(body)
    path.write_bytes(json.dumps(doc).encode() + b"\n" + body)


@pytest.mark.parametrize("damage", ["truncated", "edited", "values of another shape", "another coder"])
def test_a_damaged_or_foreign_store_only_means_deriving_again(tmp_path, codebook, coder_sets, damage, monkeypatch):
    fresh = coding.Rules.load(None, codebook)
    path = tmp_path / "store.json"
    _store_with_facts(path, codebook)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "edited":  # same length, a fact flipped: the checksum no longer matches
        assert b"[true,false," in data
        path.write_bytes(data.replace(b"[true,false,", b"[false,true,", 1))
    elif damage == "values of another shape":  # a well-formed file whose facts are not the coder's
        def garble(entries):
            for key in entries:
                if not key[0].isdigit():  # (compiled patterns are kept under their flags)
                    entries[key] = {"not": "a fact"} if "facts-" in key else 7
        _rewrite(path, garble)
    else:  # the same file read by another version of the coder
        monkeypatch.setattr(pattern_facts, "_SOURCE", "0" * 16)
    with regex_store.opened(path, save=False, shipped=None) as store:
        rules = coding.Rules.load(None, codebook)
        assert derived(rules) == derived(fresh)
        got = coding.code_findings(coder_sets["seed"], codebook, rules)
    # (another coder still finds the rules' parsed YAML: that fact is not the pattern facts' code's)
    assert store.fact_hits == (1 if damage == "another coder" else 0) and store.fact_misses > 300
    assert got.equals(coding.code_findings(coder_sets["seed"], codebook, fresh))


def test_edited_rules_derive_only_what_changed(tmp_path, codebook, doc):
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None) as first:
        derived(coding.Rules.from_dict(doc, codebook))
    edited = copy.deepcopy(doc)
    topics = edited["criteria"]["P1"]["topic"]
    assert isinstance(topics[0], str)
    topics[0] = "written (?:crime )?prevention (?:plan|strategy) for (?:the )?(?:whole )?force"
    fresh = coding.Rules.from_dict(edited, codebook)
    with regex_store.opened(path, shipped=None) as store:
        rules = coding.Rules.from_dict(edited, codebook)
        assert derived(rules) == derived(fresh)
    # the new phrase's body, facts, regrouped body and gate words, and the gate's words
    assert 0 < store.fact_misses <= 6 and store.fact_hits > 300
    assert store.fact_hits + store.fact_misses == first.fact_misses
    text = pd.DataFrame({"finding_id": ["x"], "area": ["prevention"],
                         "text": ["The force has a written prevention plan for the whole force."]})
    got = coding.code_findings(text, codebook, rules)
    assert got.equals(coding.code_findings(text, codebook, fresh)) and (got["criterion_id"] == "P1").any()


def test_another_codebook_wording_derives_the_gate_words_again(tmp_path, codebook, doc):
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None):
        before = derived(coding.Rules.from_dict(doc, codebook))
    # Make the rarest gate set of an entry common in the wording: its gate changes.
    entry = next(e for cr in coding.Rules.from_dict(doc, codebook).criteria for e in cr.entries
                 if len(e.needs) > 1)
    crits = list(codebook.criteria.values())
    crits[0] = dataclasses.replace(crits[0], question=crits[0].question + " " + " ".join(sorted(entry.needs[0])) * 50)
    reworded = Codebook(crits, codebook.areas, codebook.source)
    fresh = derived(coding.Rules.from_dict(doc, reworded))
    with regex_store.opened(path, shipped=None) as store:
        got = derived(coding.Rules.from_dict(doc, reworded))
    assert got == fresh and got != before  # the store's gates were for the other wording
    n_entries = sum(len(cr.entries) for cr in coding.Rules.from_dict(doc, codebook).criteria)
    assert store.fact_misses == n_entries + 1  # every entry's gate words, the gate regex, nothing else


@pytest.mark.parametrize("pattern", [
    "crime prevention (?:strateg(?:y|ies)|plans?)", r"(?<!\w)not (?:\w+ )?yet", r"(?:for|to) (?!all |every )crime",
    r"\bbut\b", "; ?however", "(a)b\\1", "(?:x|y)?", "[^a-z]+ only", "a\x00b", "unclosed (group", "(?i)Mixed",
    "[,;:] ?", "(?=well)w\\w+", "^start", "end$",
])
def test_the_facts_kept_for_a_phrase_are_those_of_its_parsed_form(pattern):
    tree = pattern_facts._parse(pattern)
    facts = pattern_facts._facts(pattern)
    assert facts == (tree is not None, pattern_facts._edge_may_be_nonword(tree), pattern_facts._looks_behind(tree),
                     tree is None or pattern_facts._has_lookaround(tree), pattern_facts._may_match_nul(tree),
                     pattern_facts._first_chars(tree))
    assert facts.fast_ok == (tree is not None and not (pattern_facts._edge_may_be_nonword(tree)
                                                        or pattern_facts._has_lookaround(tree)))
    assert pattern_facts._facts_valid(json.loads(json.dumps(pattern_facts._derive_facts(pattern))))  # (as kept)


# ----- the rules' parsed YAML, kept as JSON text ------------------------------------------------------
def test_the_rules_document_from_the_store_is_the_yaml_in_its_own_order(tmp_path):
    """Read back from the store (whose own JSON sorts keys), the rules document is the YAML's,
    mappings in the file's order (the coder's order of criteria, cues and phrases)."""
    raw = coding.RULES_PATH.read_text(encoding="utf-8")
    want = safeyaml.safe_load(raw)
    with regex_store.opened(tmp_path / "store.json"):
        assert coding._rules_doc(raw) == want
    with regex_store.opened(tmp_path / "store.json", save=False, shipped=None) as store:
        got = coding._rules_doc(raw)
    assert (store.fact_hits, store.fact_misses) == (1, 0)
    assert json.dumps(got) == json.dumps(want)  # equal, and in the same order throughout
    assert list(got["criteria"]) != sorted(got["criteria"])  # (so the order was worth keeping)


def test_a_rules_document_json_cannot_carry_is_parsed_every_time(tmp_path):
    """A date or a key that is not text would not come back from JSON as it was: such a document
    is not kept, and each read gives exactly what the YAML parser gives."""
    raw = "criteria: {}\nreviewed: 2014-09-03\n1: one\n"
    want = safeyaml.safe_load(raw)
    for _ in range(2):
        with regex_store.opened(tmp_path / "store.json", shipped=None):
            got = coding._rules_doc(raw)
        assert got == want and type(got["reviewed"]) is type(want["reviewed"]) and 1 in got
