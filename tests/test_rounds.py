import datetime as dt

import pytest

from analysis.errors import InputError
from analysis.paths import Paths
from analysis.rounds import Rounds


def test_shipped_rounds():
    r = Rounds.load(Paths().rounds)
    assert r.ids == ["core_business_2014", "peel_2014", "peel_2015", "peel_2016"]
    assert r["peel_2014"].updates == "core_business_2014"
    assert not any(x.synthetic for x in r)
    assert [x.label for x in r] == ["Core Business 2014", "PEEL 2014", "PEEL 2015", "PEEL 2016"]


def test_round_label_defaults_and_table():
    """A round without a label is named by its id; a number is a label; spaces are tidied."""
    r = Rounds.from_dict({"rounds": [
        {"id": "a", "kind": ["coded"]},
        {"id": "b", "kind": ["coded"], "label": 2017},
        {"id": "c", "kind": ["coded"], "label": "  PEEL   2018 "},
        {"id": "d", "kind": ["coded"], "label": "  "},
    ]})
    assert [x.label for x in r] == ["a", "2017", "PEEL 2018", "d"]
    assert r.table()["label"].tolist() == ["a", "2017", "PEEL 2018", "d"]


@pytest.mark.parametrize("text,fragment", [
    ("rounds:\n  - id: a\n    kind: [coded]\n  - id: a\n    kind: [grades]\n", "used twice"),
    ("rounds:\n  - id: a\n    kind: [coded]\n    updates: zzz\n", "updates unknown round 'zzz'"),
    ("rounds:\n  - id: a\n    kind: [pictures]\n", "kind"),
    ("rounds:\n  - id: A B\n    kind: [coded]\n", "lower_snake_case"),
    ("rounds:\n  - id: a\n    kind: [coded]\n    published: 4th Sept\n", "not a date"),
    ("rounds:\n  - id: a\n    kind: [coded]\n    colour: red\n", "unknown field"),
    ("rounds: [\n", "not valid YAML"),
    ("something: else\n", "rounds:"),
    ("rounds:\n  - id: a\n    label: PEEL\n    kind: [coded]\n  - id: b\n    label: ' PEEL '\n    kind: [coded]\n",
     "label 'PEEL' is used twice"),
    ("rounds:\n  - id: a\n    label: [PEEL, 2014]\n    kind: [coded]\n", "not a short text"),
    ("rounds:\n  - id: a\n    label: " + "x" * 31 + "\n    kind: [coded]\n", "at most 30 characters"),
])
def test_rounds_errors(tmp_path, text, fragment):
    p = tmp_path / "rounds.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        Rounds.load(p)
    assert fragment in str(exc.value) and "rounds.yaml" in str(exc.value) and "Fix:" in str(exc.value)


def test_duplicate_round_names_line(tmp_path):
    p = tmp_path / "rounds.yaml"
    p.write_text("rounds:\n  - id: a\n    kind: [coded]\n  - id: a\n    kind: [grades]\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 4"):
        Rounds.load(p)


def test_embargo(tmp_path):
    p = tmp_path / "rounds.yaml"
    p.write_text("rounds:\n  - id: a\n    kind: [coded]\n    embargo_until: 2999-01-01T00:01\n"
                 "  - id: synthetic_b\n    kind: [coded]\n", encoding="utf-8")
    r = Rounds.load(p)
    assert r["a"].embargoed() and not r["synthetic_b"].embargoed()
    assert r["synthetic_b"].synthetic


@pytest.mark.parametrize("written", ["2030-06-01T09:30:00+05:00", "'2030-06-01T09:30+05:00'",
                                     "2030-06-01 09:30:00 +05:00"])
def test_embargo_time_with_an_offset_is_converted_to_local_time_not_cut(tmp_path, monkeypatch, written):
    """09:30 at +05:00 is 04:30 UTC; read as 09:30 local (the offset dropped), the embargo
    would have lifted five hours late here, or early on a machine east of it."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        p = tmp_path / "rounds.yaml"
        p.write_text(f"rounds:\n  - id: a\n    kind: [coded]\n    embargo_until: {written}\n", encoding="utf-8")
        r = Rounds.load(p)["a"]
        assert r.embargo_until == dt.datetime(2030, 6, 1, 4, 30)
        assert r.embargoed(dt.datetime(2030, 6, 1, 4, 29)) and not r.embargoed(dt.datetime(2030, 6, 1, 4, 30))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_update_of_a_round_published_later_is_refused(tmp_path):
    """Core Business 2014 set to update PEEL 2014: the changes ran backwards in time, no word."""
    path = tmp_path / "rounds.yaml"
    path.write_text("rounds:\n  - id: core_business_2014\n    published: 2014-09-04\n    kind: [coded]\n"
                    "    updates: peel_2014\n  - id: peel_2014\n    published: 2014-11-27\n    kind: [coded]\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"round core_business_2014.*updates 'peel_2014', published later "
                                         r"\(2014-11-27\) than this round \(2014-09-04\)"):
        Rounds.load(path)
