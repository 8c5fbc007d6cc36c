"""Property tests: the same coding, however it is laid out or spelt, gives identical tidy tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.build import build_tables, load_inputs
from analysis.paths import RAW, Paths

# A fixed coding: (force, criterion) -> value; spelt many ways below.
CODING = {("norfolk", "A2"): "yes", ("norfolk", "F4"): "limited", ("suffolk", "A2"): "no",
          ("suffolk", "P1"): "none", ("kent", "A5"): "good", ("metropolitan", "A2"): "no",
          ("devon-and-cornwall", "A8"): "in_some_cases", ("greater-manchester", "A9"): "yes"}
FORCE_SPELLINGS = {
    "norfolk": ["Norfolk", "Norfolk Constabulary", "NORFOLK", " norfolk police "],
    "suffolk": ["Suffolk", "Suffolk Constabulary", "suffolk"],
    "kent": ["Kent", "Kent Police", "kent police"],
    "metropolitan": ["Met", "MPS", "Metropolitan Police Service", "the Met"],
    "devon-and-cornwall": ["Devon & Cornwall", "Devon and Cornwall Police", "devon-and-cornwall"],
    "greater-manchester": ["GMP", "Greater Manchester Police", "greater manchester"],
}
CRIT_SPELLINGS = {"A2": ["A2", "attend_all_crimes", "Attend-all-crimes policy", "a2"],
                  "F4": ["F4", "mobile_technology", "Mobile technology on patrol"],
                  "P1": ["P1", "prevention_strategy", "Written crime-prevention strategy"],
                  "A5": ["A5", "investigation_quality"], "A8": ["A8", "victim_self_investigation"],
                  "A9": ["A9", "pcso_investigation"]}
VALUE_SPELLINGS = {"yes": ["yes", "Yes", "Y", "✓", "TRUE", "yes "], "no": ["no", "No", "N", "FALSE"],
                   "limited": ["limited", "Limited "], "none": ["none", "None"], "good": ["good", "Good", "+"],
                   "in_some_cases": ["in_some_cases", "In some cases", "in some cases", "+/-", "±"]}

_BASE: dict[str, Path] = {}


def _base(tmp_root: Path) -> Path:
    if "raw" not in _BASE:
        raw = tmp_root / "raw"
        (raw / "reference").mkdir(parents=True)
        for name in ("codebook.yaml",):
            shutil.copy(RAW / name, raw / name)
        for name in ("forces.csv", "force_aliases.csv"):
            shutil.copy(RAW / "reference" / name, raw / "reference" / name)
        (raw / "rounds.yaml").write_text("rounds:\n  - id: r\n    kind: [coded]\n", encoding="utf-8")
        _BASE["raw"] = raw
    return _BASE["raw"]


@st.composite
def layouts(draw):
    """Split the coding over 1-3 sheets, each long or wide, rows/columns shuffled, any spelling."""
    items = draw(st.permutations(sorted(CODING.items())))
    n_sheets = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, len(items)), min_size=n_sheets - 1, max_size=n_sheets - 1)))
    parts = [list(p) for p in _split(items, cuts)]
    sheets = []
    for part in parts:
        if not part:
            continue
        form = draw(st.sampled_from(["long", "wide", "across"]))
        spelt = [(draw(st.sampled_from(FORCE_SPELLINGS[f])), draw(st.sampled_from(CRIT_SPELLINGS[c])),
                  draw(st.sampled_from(VALUE_SPELLINGS[v])), f, c) for (f, c), v in part]
        if form == "long":
            cols = draw(st.permutations(["force", "criterion", "value"]))
            rows = [list(cols)] + [[{"force": fs, "criterion": cs, "value": vs}[k] for k in cols]
                                   for fs, cs, vs, _, _ in spelt]
        else:
            crit_ids = sorted({c for *_, c in spelt})
            crit_head = {c: draw(st.sampled_from(CRIT_SPELLINGS[c])) for c in crit_ids}
            crit_ids = draw(st.permutations(crit_ids))
            by_force: dict[str, dict] = {}
            force_name = {}
            for fs, cs, vs, f, c in spelt:
                by_force.setdefault(f, {})[c] = vs
                force_name.setdefault(f, fs)
            forces = draw(st.permutations(sorted(by_force)))
            rows = [["Force", *[crit_head[c] for c in crit_ids]]]
            rows += [[force_name[f], *[by_force[f].get(c) for c in crit_ids]] for f in forces]
            if form == "across":  # forces across the top, criteria down the first column
                # (a blank corner needs two forces to tell the layout; one force needs 'Criterion')
                corner = draw(st.sampled_from(["Criterion", None, "Indicator"] if len(forces) > 1 else ["Criterion"]))
                rows = [list(col) for col in zip(*rows)]
                rows[0][0] = corner
        sheets.append((form, rows))
    as_csv = len(sheets) == 1 and draw(st.booleans())
    return sheets, as_csv


def _split(items, cuts):
    prev = 0
    for c in list(cuts) + [len(items)]:
        yield items[prev:c]
        prev = c


def _tidy(raw: Path) -> pd.DataFrame:
    t = build_tables(load_inputs(Paths(raw=raw)), log=lambda s: None)
    assert len(t["rejects"]) == 0, t["rejects"]
    return (t["findings"].drop(columns=["source_ref"])
            .sort_values(["force_id", "criterion_id"], ignore_index=True))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=layouts())
def test_any_layout_and_spelling_gives_identical_tables(tmp_path_factory, layout):
    sheets, as_csv = layout
    base = _base(tmp_path_factory.getbasetemp())
    raw = tmp_path_factory.mktemp("prop") / "raw"
    shutil.copytree(base, raw)
    folder = raw / "r" / "coded"
    folder.mkdir(parents=True)
    if as_csv:
        pd.DataFrame(sheets[0][1][1:], columns=sheets[0][1][0]).to_csv(folder / "c.csv", index=False)
    else:
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for i, (_, rows) in enumerate(sheets):
            ws = wb.create_sheet(f"S{i}")
            for r in rows:
                ws.append(r)
        wb.save(folder / "c.xlsx")
    got = _tidy(raw)
    assert sorted(zip(got.force_id, got.criterion_id, got.value)) == sorted(
        (f, c, v) for (f, c), v in CODING.items())
    if "reference" not in _BASE:
        _BASE["reference"] = got
    pd.testing.assert_frame_equal(got, _BASE["reference"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=6),
                          st.sampled_from(["=1+1", "+44 1603", "-2", "@SUM(A1)", "\tx", "\rx", "a=b"])),
                max_size=30))
def test_csv_formula_guard_column_equals_cell_by_cell(values):
    """The vectorised guard used for every CSV column guards exactly the cells the one-cell rule
    guards, whatever the text (empty, unicode, missing)."""
    from analysis.io import neutralise_column, neutralise_formula
    col = pd.Series(values, dtype="string")
    expected = [pd.NA if v is None else neutralise_formula(v) for v in values]
    assert neutralise_column(col).tolist() == expected


_TEXT = st.one_of(st.none(), st.text(max_size=8),
                  st.sampled_from(['a,b', 'say "no"', "line\nbreak", "cr\rhere", ' padded ', "", "é—ü", "=1"]))
_FLOAT = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.1, 1.0, 100.0, 1e-05, 2.5e16, -0.0]))


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=12).flatmap(lambda n: st.fixed_dictionaries({
    "text": st.lists(_TEXT, min_size=n, max_size=n),
    "more_text": st.lists(_TEXT, min_size=n, max_size=n),
    "count": st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12)), min_size=n, max_size=n),
    "share": st.lists(_FLOAT, min_size=n, max_size=n),
    "flag": st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)})))
def test_fast_csv_writer_is_byte_identical_to_pandas(cols):
    """The Arrow-based CSV writer used for processed tables writes exactly what pandas writes,
    for every dtype the tables use and for text with commas, quotes, line breaks and unicode;
    the one deliberate difference (a carriage return is quoted) still reads back the same."""
    import io

    from analysis.io import csv_bytes
    df = pd.DataFrame({"text": pd.Series(cols["text"], dtype="string"),
                       "more_text": pd.Series(cols["more_text"], dtype="string"),
                       "count": pd.Series(cols["count"], dtype="Int64"),
                       "share": pd.Series(cols["share"], dtype="Float64"),
                       "flag": pd.Series(cols["flag"], dtype="boolean")})
    got = csv_bytes(df)
    if len(df) > 1:  # a frame glued from parts holds chunked Arrow columns: the same bytes
        assert csv_bytes(pd.concat([df.iloc[:1], df.iloc[1:]], ignore_index=True)) == got
    has_cr = any("\r" in v for c in ("text", "more_text") for v in cols[c] if v)
    if not has_cr:
        assert got == df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    back = pd.read_csv(io.BytesIO(got), dtype={"text": "string", "more_text": "string"},
                       keep_default_na=False, na_values=[""])
    for c in ("text", "more_text"):  # empty text and missing text are both an empty field
        want = [None if not v else v for v in cols[c]]
        assert [None if pd.isna(v) else v for v in back[c]] == want


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=10).flatmap(lambda n: st.fixed_dictionaries({
    "text": st.lists(st.one_of(_TEXT, st.sampled_from(["-2", "+44", "@x", "\t=y", "=a,b"])), min_size=n, max_size=n),
    "count": st.lists(st.one_of(st.none(), st.integers(-10**6, 10**6)), min_size=n, max_size=n),
    "share": st.lists(st.one_of(st.none(), st.sampled_from([-1.5, 0.25, -0.0])), min_size=n, max_size=n)})))
def test_fast_csv_writer_guards_text_cells_only(cols):
    """csv_bytes(guard=True), which guards every text column in one pass over the whole table,
    writes what the cell-by-cell guard then the plain writer write; negative numbers are numbers,
    never guarded."""
    from analysis.io import csv_bytes, neutralise_formula
    df = pd.DataFrame({"text": pd.Series(cols["text"], dtype="string"),
                       "count": pd.Series(cols["count"], dtype="Int64"),
                       "share": pd.Series(cols["share"], dtype="Float64")})
    by_cell = df.assign(text=df["text"].map(neutralise_formula, na_action="ignore").astype("string"))
    assert csv_bytes(df, guard=True) == csv_bytes(by_cell)


@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_fast_csv_writer_batches_give_the_same_bytes(monkeypatch, batch):
    """Columns are formatted in batches (io.CSV_BATCH_VALUES values at a time: one column, a few,
    or all): the bytes do not depend on where the batches end."""
    from analysis import io as aio
    df = pd.DataFrame({"text": pd.Series(["=1", "a,b", None, 'q"', "-x", "plain"], dtype="string"),
                       "count": pd.Series([-1, None, 3, 4, 5, 6], dtype="Int64"),
                       "more": pd.Series(["x", "line\nbreak", "", None, "+44", "ok"], dtype="string"),
                       "flag": pd.Series([True, None, False, True, False, True], dtype="boolean"),
                       "share": pd.Series([0.5, None, -0.0, 1e-05, 2.0, 3.25], dtype="Float64")})
    want = df.assign(**{c: df[c].map(aio.neutralise_formula, na_action="ignore").astype("string")
                        for c in ("text", "more")}).to_csv(index=False, lineterminator="\n").encode()
    monkeypatch.setattr(aio, "CSV_BATCH_VALUES", batch)
    assert aio.csv_bytes(df, guard=True) == want
