"""The compiled-pattern store: patterns made from it equal re.compile's, and a missing, damaged,
edited or foreign store file only means compiling as usual. The package's shipped store is
left out here (shipped=None): see tests/test_shipped_patterns.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from analysis import regex_store
from analysis.regex_store import RegexStore

PATTERNS = [
    (r"(?<!\w)(?:attend(?:s|ed|ing)?|visit) all (?:reported )?crimes?(?!\w)", 0),
    (r"[^\w](?=(not|never|no longer)(?!\w))(?:(?=(well|good)(?!\w))|)", 0),
    (r"(?P<force>[A-Z][a-z]+) (?:Police|Constabulary)", 0),
    (r"\bmobile (?:data|devices?|tablets?)\b", re.IGNORECASE),
    (r"^\s*(?:however|but)[ ,]", re.MULTILINE),
    (r"(a)(b)?(?(2)c|d)\1", 0),
    ("caf\u00e9|na\u00efve|\u2013", 0),
]


def _same(a: re.Pattern, b: re.Pattern) -> None:
    assert a == b  # re's equality: pattern, flags and engine code
    assert (a.flags, a.groups, a.groupindex) == (b.flags, b.groups, b.groupindex)


def test_patterns_from_the_store_equal_re_compile(tmp_path):
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None) as first:
        made = [regex_store.compile(p, f) for p, f in PATTERNS]
    assert first.misses == len(PATTERNS) and path.exists()
    store = RegexStore(path, shipped=None)
    for (p, f), rx in zip(PATTERNS, made):
        again = store.compile(p, f)
        _same(again, re.compile(p, f))
        _same(again, rx)
    assert store.hits == len(PATTERNS) and store.misses == 0
    m = store.compile(PATTERNS[2][0]).search("Norfolk Constabulary")
    assert m and m.group("force") == "Norfolk"


def test_the_coders_patterns_come_back_equal(tmp_path):
    """Every pattern the coder compiles while coding the seed letter, through the store."""
    from analysis import coding
    from analysis.codebook import Codebook
    from analysis.forces import ForceResolver
    from analysis.letters import parse_letter
    from analysis.paths import RAW

    codebook = Codebook.load(RAW / "codebook.yaml")
    resolver = ForceResolver.from_files(RAW / "reference" / "forces.csv", RAW / "reference" / "force_aliases.csv")
    _, seed_findings = parse_letter(RAW / "core_business_2014" / "letters" / "norfolk_2014-09-03.txt",
                                    "core_business_2014", resolver)

    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None):
        rules = coding.Rules.load(None, codebook)
        cold = coding.code_findings(seed_findings, codebook, rules)
    with regex_store.opened(path, shipped=None) as warm_store:
        rules = coding.Rules.load(None, codebook)
        warm = coding.code_findings(seed_findings, codebook, rules)
    assert warm_store.hits > 20 and warm_store.misses == 0
    for key, rx in warm_store._patterns.items():
        flags, _, pattern = key.partition(":")
        _same(rx, re.compile(pattern, int(flags)))
    assert warm.equals(cold)


@pytest.mark.parametrize("damage", ["truncated", "edited", "engine", "format", "not json", "empty"])
def test_a_bad_store_file_is_ignored(tmp_path, damage):
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None):
        for p, f in PATTERNS:
            regex_store.compile(p, f)
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    doc = json.loads(head)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "edited":  # same length, other code: the checksum no longer matches
        data = head + b"\n" + body.replace(b",1,", b",2,", 1)
    elif damage in ("engine", "format"):
        doc[damage] = "cpython-9.9-0-4" if damage == "engine" else 99
        data = json.dumps(doc).encode() + b"\n" + body
    elif damage == "not json":
        data = b"\x00\xff garbage"
    else:
        data = b""
    assert data != path.read_bytes()
    path.write_bytes(data)
    store = RegexStore(path, shipped=None)
    for p, f in PATTERNS:
        _same(store.compile(p, f), re.compile(p, f))
    assert store.hits == 0 and store.misses == len(PATTERNS)
    store.save()  # rewritten whole
    assert RegexStore(path, shipped=None)._entries.keys() == {f"{int(f)}:{p}" for p, f in PATTERNS}


def test_no_store_open_means_plain_re_compile():
    assert regex_store._ACTIVE is None
    assert regex_store.compile(PATTERNS[0][0]) is re.compile(PATTERNS[0][0])


def test_saving_keeps_only_this_runs_patterns_and_survives_an_unwritable_place(tmp_path):
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None):
        regex_store.compile("old (?:rules)")
    with regex_store.opened(path, shipped=None):
        regex_store.compile("new (?:rules)")
    assert set(RegexStore(path, shipped=None)._entries) == {"0:new (?:rules)"}
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with regex_store.opened(blocked / "store.json", shipped=None) as store:
        rx = regex_store.compile("x+y")
    assert rx.fullmatch("xxy") and store.dirty  # nothing written, nothing raised
    assert blocked.read_text() == "not a folder"



def test_derived_facts_are_kept_beside_the_patterns(tmp_path):
    """Facts (any JSON value, falsy ones too) come back for the same kind and text; a value the
    caller's check refuses is derived again; saving keeps this run's facts and patterns only."""
    path = tmp_path / "store.json"
    calls = []

    def derive(text):
        calls.append(text)
        return {"empty": [], "no": False, "zero": 0, "blank": ""}.get(text, [text, len(text)])

    texts = ["empty", "no", "zero", "blank", "a (?:phrase)"]
    with regex_store.opened(path, shipped=None) as first:
        got = [regex_store.derived("k1", t, derive, lambda v: True) for t in texts]
        regex_store.derived("k1", "old", derive, lambda v: True)
        regex_store.compile("x+y")
        assert regex_store.derived("k1", "no", derive, lambda v: True) is False  # asked twice, derived once
    assert calls == [*texts, "old"] and first.fact_misses == len(texts) + 1
    calls.clear()
    with regex_store.opened(path, shipped=None) as again:
        assert [regex_store.derived("k1", t, derive, lambda v: True) for t in texts] == got
        assert regex_store.derived("k2", "no", derive, lambda v: True) is False  # another kind: derived
        regex_store.compile("x+y")
    assert calls == ["no"] and again.fact_hits == len(texts)
    assert set(RegexStore(path, shipped=None)._entries) == {"0:x+y", "k2:no", *(f"k1:{t}" for t in texts)}  # not 'old'
    with regex_store.opened(path, save=False, shipped=None) as checked:
        assert regex_store.derived("k1", "zero", derive, lambda v: isinstance(v, str)) == 0
        assert regex_store.derived("k1", "blank", derive, lambda v: v["shape"]) == ""  # check raises
    assert checked.fact_hits == 0 and checked.fact_misses == 2 and calls == ["no", "zero", "blank"]
    assert regex_store.derived("k1", "zero", derive, lambda v: True) == 0  # no store open: derived
    assert calls[-1] == "zero" and len(calls) == 4


def test_the_engine_key_follows_res_sources(tmp_path, monkeypatch):
    """A store made by another ``re`` (here: its parser's source edited) is ignored; the key and
    the shipped file's name stay the same while the sources do."""
    from re import _parser

    before = regex_store.engine()
    assert before.startswith(f"cpython-{sys.version_info[0]}.{sys.version_info[1]}-re")
    path = tmp_path / "store.json"
    with regex_store.opened(path, shipped=None):
        regex_store.compile(PATTERNS[0][0])
    edited = tmp_path / "_parser.py"
    edited.write_bytes(Path(_parser.__file__).read_bytes() + b"\n# a patch release\n")
    monkeypatch.setattr(_parser, "__file__", str(edited))
    regex_store.engine.cache_clear()
    try:
        assert regex_store.engine() != before
        assert regex_store.shipped_path().name != regex_store.shipped_path(before).name
        store = RegexStore(path, shipped=None)
        _same(store.compile(PATTERNS[0][0]), re.compile(PATTERNS[0][0]))
        assert store.hits == 0 and store.misses == 1
    finally:
        monkeypatch.undo()
        regex_store.engine.cache_clear()
    assert regex_store.engine() == before
