"""The PEEL question mapping table and the checks on grades made through it."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import schemas
from analysis.codebook import Codebook
from analysis.compare import resolve_grades
from analysis.errors import InputError
from analysis.facts import load_grades
from analysis.forces import ForceResolver
from analysis.grades_map import GRADE_ORDER, MAP_COLUMNS, check_grades, load_mapping, map_path, mapped_rows
from analysis.paths import RAW, Paths
from analysis.rounds import Rounds

P = Paths(raw=RAW)
HEADER = ",".join(MAP_COLUMNS)


@pytest.fixture(scope="module")
def codebook():
    return Codebook.load(P.codebook)


@pytest.fixture(scope="module")
def rounds():
    return Rounds.load(P.rounds)


@pytest.fixture(scope="module")
def mapping(codebook, rounds):
    return load_mapping(map_path(RAW), codebook, rounds)


@pytest.fixture(scope="module")
def shipped_grades():
    resolver = ForceResolver.from_files(P.forces, P.force_aliases)
    parts = []
    for path in sorted(RAW.glob("peel_20*/grades/*.csv")):
        rid = path.parts[-3]
        parts.append(load_grades(path, rid, resolver, path.relative_to(RAW).as_posix()))
    return pd.concat(parts, ignore_index=True)


def _write(tmp_path, *rows: str):
    path = tmp_path / "map.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_grade_scale_matches_the_schema():
    assert GRADE_ORDER == schemas._ENUMS[("grades", "grade")]


def test_every_shipped_question_is_mapped_or_marked_unmapped(mapping, shipped_grades):
    in_grades = set(zip(shipped_grades["round"], shipped_grades["question_id"]))
    in_map = set(zip(mapping["round"], mapping["question_id"]))
    assert in_grades and in_grades <= in_map
    assert in_map == in_grades, "the mapping lists questions no grades file uses"
    assert mapping["rationale"].str.len().min() > 30  # a real reason on every row
    assert set(mapping["status"]) == {"mapped", "unmapped"}


def test_shipped_mapping_content(mapping):
    m = mapping.set_index(["round", "question_id"])
    assert m.loc[("peel_2014", "reducing_crime"), "area"] == "prevention"
    assert m.loc[("peel_2014", "reducing_crime"), "criteria_resolved"] == "P1|P2|P3|P4|P5|P6"
    assert m.loc[("peel_2014", "investigating_offending"), "criteria_resolved"] == "A5|A6|A7|A8|A9"
    assert m.loc[("peel_2015", "legitimacy"), "status"] == "unmapped"
    assert pd.isna(m.loc[("peel_2015", "legitimacy"), "area"])
    assert set(mapped_rows(mapping, "peel_2014")["question_id"]) == {
        "reducing_crime", "tackling_asb", "investigating_offending", "efficiency"}


def test_shipped_grades_pass_the_checks(mapping, shipped_grades):
    forces = pd.read_csv(P.forces, dtype="string")
    check_grades(shipped_grades, mapping, forces)  # raises on any problem


@pytest.mark.parametrize("row, message", [
    ("peel_2014,q,Q,maybe,,,,because", "status 'maybe'"),
    ("peel_2014,q,Q,mapped,,,direct,because", "no area"),
    ("peel_2014,q,Q,mapped,policing,,direct,because", "area 'policing'"),
    ("peel_2014,q,Q,mapped,prevention,P1|A5,direct,because", "not framed criteria of area"),
    ("peel_2014,q,Q,mapped,prevention,P0,direct,because", "not framed criteria of area"),
    ("peel_2014,q,Q,mapped,prevention,,strong,because", "fit 'strong'"),
    ("peel_2014,q,Q,unmapped,prevention,,,because", "unmapped question has area"),
    ("peel_2014,q,Q,mapped,prevention,,direct,", "blank rationale"),
    ("peel_2099,q,Q,unmapped,,,,because", "unknown round 'peel_2099'"),
])
def test_bad_mapping_rows_name_file_and_row(tmp_path, codebook, rounds, row, message):
    path = _write(tmp_path, "peel_2014,ok,OK,unmapped,,,,fine", row)
    with pytest.raises(InputError) as exc:
        load_mapping(path, codebook, rounds)
    text = str(exc.value)
    assert message in text and str(path) in text and "row 3" in text


def test_duplicate_and_mixed_rows_are_errors(tmp_path, codebook, rounds):
    dup = _write(tmp_path, "peel_2014,q,Q,mapped,prevention,,direct,a", "peel_2014,q,Q,mapped,prevention,P1,partial,b")
    with pytest.raises(InputError, match="listed twice"):
        load_mapping(dup, codebook, rounds)
    mixed = _write(tmp_path, "peel_2014,q,Q,mapped,prevention,,direct,a", "peel_2014,q,Q,unmapped,,,,b")
    with pytest.raises(InputError, match="both mapped and unmapped"):
        load_mapping(mixed, codebook, rounds)
    two_areas = _write(tmp_path, "peel_2014,q,Q,mapped,prevention,,direct,a", "peel_2014,q,Q,mapped,attendance,A5,partial,b")
    assert len(load_mapping(two_areas, codebook, rounds)) == 2  # one question, two areas: allowed


def test_missing_column_and_missing_file(tmp_path, codebook):
    path = tmp_path / "map.csv"
    path.write_text("round,question_id,status\npeel_2014,q,unmapped\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        load_mapping(path, codebook)
    with pytest.raises(InputError, match="not found"):
        load_mapping(tmp_path / "nope.csv", codebook)


def _grade(**kw):
    base = {"round": "peel_2014", "force_id": "norfolk", "question_id": "reducing_crime",
            "question": "Q", "grade": "good", "source_ref": "peel_2014/grades/g.csv:row 7"}
    return {**base, **kw}


def test_check_grades_errors_name_the_grades_file_and_row(mapping):
    forces = pd.read_csv(P.forces, dtype="string")
    cases = [
        (_grade(grade="very_good"), "grade 'very_good' is outside the PEEL scale"),
        (_grade(force_id="atlantis"), "unknown force 'atlantis'"),
        (_grade(question_id="new_question"), "'new_question' of round peel_2014 is not in the PEEL question mapping"),
        (_grade(round="peel_2016", question_id="reducing_crime"), "is not in the PEEL question mapping"),
    ]
    for rec, message in cases:
        g = schemas.conform("grades", pd.DataFrame([rec]))
        with pytest.raises(InputError) as exc:
            check_grades(g, mapping, forces)
        assert message in str(exc.value)
        assert "peel_2014/grades/g.csv, row 7" in str(exc.value)


def test_cheshire_conflict_is_kept_and_independent_of_row_order(shipped_grades):
    ches = shipped_grades[(shipped_grades["force_id"] == "cheshire") & (shipped_grades["round"] == "peel_2014")]
    assert (ches["question_id"] == "reducing_crime").sum() == 2  # both HMIC pages kept in grades
    a = resolve_grades(shipped_grades)
    b = resolve_grades(shipped_grades.iloc[::-1].reset_index(drop=True))
    pd.testing.assert_frame_equal(a, b)
    row = a[(a["force_id"] == "cheshire") & (a["round"] == "peel_2014") & (a["question_id"] == "reducing_crime")].iloc[0]
    assert row["grade"] == "contested" and bool(row["conflict"])
    assert row["grades_seen"] == "good|requires_improvement"
    assert pd.isna(row["grade_rank"]) and row["n_rows"] == 2
    # agreeing duplicates are not a conflict; tackling_asb is 'good' on both Cheshire pages
    asb = a[(a["force_id"] == "cheshire") & (a["round"] == "peel_2014") & (a["question_id"] == "tackling_asb")].iloc[0]
    assert asb["grade"] == "good" and not bool(asb["conflict"]) and asb["n_rows"] == 2
    assert int(a["conflict"].sum()) == 2  # only Cheshire's reducing_crime and investigating_offending


def test_copy_mapping_rows_for_a_generated_round(tmp_path, codebook):
    from analysis.grades_map import copy_mapping_rows

    dest = tmp_path / "reference" / "peel_question_map.csv"
    copy_mapping_rows(map_path(RAW), dest, "peel_2014", "synthetic_peel", ["reducing_crime", "efficiency"],
                      note="SYNTHETIC: copied from peel_2014.")
    copy_mapping_rows(map_path(RAW), dest, "peel_2015", "synthetic_peel_2", ["legitimacy"])
    m = load_mapping(dest, codebook)
    assert list(zip(m["round"], m["question_id"])) == [
        ("synthetic_peel", "reducing_crime"), ("synthetic_peel", "efficiency"), ("synthetic_peel_2", "legitimacy")]
    assert m.loc[0, "rationale"].startswith("SYNTHETIC: copied from peel_2014. This is the PEEL 2014 question")
    assert m.loc[2, "status"] == "unmapped"
    with pytest.raises(InputError, match="no mapping row for \\['made_up'\\]"):
        copy_mapping_rows(map_path(RAW), dest, "peel_2014", "synthetic_peel", ["made_up"])
