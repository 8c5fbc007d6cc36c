"""The build on the shipped data, and its guarantees: precedence, conflicts, determinism, atomicity."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.build import build, load_inputs, build_tables
from analysis.paths import Paths
from analysis.resolve import resolve

FIXTURES = Path(__file__).parent / "fixtures"


def test_43_forces_in_forces_and_every_round_of_matrix(shipped_tables):
    t = shipped_tables
    assert len(t["forces"]) == 43
    m = t["matrix"]
    assert set(m["round"]) == {"core_business_2014", "peel_2014"}
    for rnd, sub in m.groupby("round"):
        assert sub["force_id"].nunique() == 43
        assert len(sub) == 43 * 19
        assert not sub.duplicated(["force_id", "criterion_id"]).any()


def test_norfolk_matches_gold(shipped_tables):
    gold = pd.read_csv(FIXTURES / "norfolk_2014_gold.csv")
    f = shipped_tables["findings"]
    analyst = f[(f.force_id == "norfolk") & (f.source_kind == "letter") & (f.coder != "auto")]
    got = sorted(zip(analyst.criterion_id, analyst.value, analyst.judgement))
    want = sorted(zip(gold.criterion_id, gold.value, gold.judgement))
    assert len(want) == 17 and got == want
    m = shipped_tables["matrix"]
    nm = m[(m["round"] == "core_business_2014") & (m.force_id == "norfolk")].set_index("criterion_id")
    for row in gold.itertuples():
        assert nm.loc[row.criterion_id, "value"] == row.value


def test_cleveland_a2_conflict_resolved_by_source_strength(shipped_tables):
    c = shipped_tables["conflicts"]
    cl = c[(c.force_id == "cleveland") & (c.criterion_id == "A2")]
    assert len(cl) == 1
    row = cl.iloc[0]
    assert row["values"] == "no|yes" and row["n_candidates"] == 3
    assert "press_summary" in row["resolution"] and "national_report_via_press" in row["candidates"]
    m = shipped_tables["matrix"]
    cell = m[(m["round"] == "core_business_2014") & (m.force_id == "cleveland") & (m.criterion_id == "A2")].iloc[0]
    assert (cell["value"], cell["resolution"], cell["winning_source_kind"]) == ("yes", "precedence", "press_summary")
    # Dyfed-Powys: HMIC's own page outranks the derived national list
    dp = m[(m["round"] == "core_business_2014") & (m.force_id == "dyfed-powys") & (m.criterion_id == "A2")].iloc[0]
    assert dp["value"] == "yes" and dp["winning_source_kind"] == "hmic_page"


def test_same_fact_from_two_sources_is_agreement_not_conflict(shipped_tables):
    m = shipped_tables["matrix"]
    cell = m[(m["round"] == "core_business_2014") & (m.force_id == "norfolk") & (m.criterion_id == "A2")].iloc[0]
    assert cell["n_sources"] >= 2 and cell["resolution"] == "agreement"
    c = shipped_tables["conflicts"]
    assert not ((c.force_id == "norfolk") & (c.criterion_id == "A2")).any()


def _finding(value, kind, coder="analyst", override=False, ref="x"):
    return {"round": "r", "force_id": "norfolk", "area": "attendance", "criterion_id": "A2", "value": value,
            "judgement": "positive" if value == "yes" else "negative", "source_kind": kind, "source_ref": ref,
            "coder": coder, "is_override": override, "confidence": "low"}


@pytest.mark.parametrize("cands,expected", [
    ([("yes", "press_summary"), ("no", "national_report_via_press")], ("yes", "precedence")),
    ([("no", "press_summary"), ("yes", "press_summary")], ("contested", "contested")),
    ([("yes", "letter", "auto"), ("no", "letter", "analyst")], ("no", "precedence")),
    ([("yes", "secondary", "analyst", True), ("no", "letter", "analyst")], ("yes", "precedence")),
    ([("yes", "letter"), ("yes", "secondary")], ("yes", "agreement")),
])
def test_precedence_rules_never_row_order(cands, expected):
    from analysis import schemas
    from analysis.codebook import Codebook
    from analysis.forces import load_forces

    p = Paths()
    cb = Codebook.load(p.codebook)
    forces = load_forces(p.forces)
    for order in (cands, list(reversed(cands))):
        recs = [_finding(*c, ref=f"ref{i}") for i, c in enumerate(order)]
        m, conflicts = resolve(schemas.conform("findings", pd.DataFrame(recs)), forces, cb, ["r"])
        cell = m[(m.force_id == "norfolk") & (m.criterion_id == "A2")].iloc[0]
        assert (cell["value"], cell["resolution"]) == expected
        assert len(conflicts) == (1 if len({c[0] for c in cands}) > 1 else 0)


def test_rejects_and_grades_and_measures(shipped_tables):
    g = shipped_tables["grades"]
    assert set(g["round"]) == {"peel_2014", "peel_2015", "peel_2016"}
    assert set(g["grade"]) <= {"outstanding", "good", "requires_improvement", "inadequate"}
    # Cheshire's two conflicting PEEL 2014 rows are both kept
    ch = g[(g.force_id == "cheshire") & (g["round"] == "peel_2014") & (g.question_id == "reducing_crime")]
    assert set(ch["grade"]) == {"good", "requires_improvement"}
    meas = shipped_tables["measures"]
    assert meas.set_index(["force_id", "measure"]).loc[("norfolk", "crimes_attended_pct"), "value"] == 98
    assert meas.loc[meas.force_id == "wiltshire", "qualifier"].tolist() == ["almost"]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_build_is_deterministic_and_atomic(tmp_path, raw_copy):
    paths = Paths(raw=raw_copy, processed=tmp_path / "out")
    build(paths, tables_only=True, log=lambda s: None)
    first = _digest(paths.processed)
    assert any(n.endswith(".parquet") for n in first) and "data_dictionary.csv" in first
    build(paths, tables_only=True, log=lambda s: None)
    assert _digest(paths.processed) == first
    # a failing build (bad rounds.yaml) leaves the previous outputs untouched
    (raw_copy / "rounds.yaml").write_text("rounds:\n  - id: Bad Id\n    kind: [coded]\n", encoding="utf-8")
    with pytest.raises(Exception):
        build(paths, tables_only=True, log=lambda s: None)
    assert _digest(paths.processed) == first
    assert not list(tmp_path.glob(".out.*"))


def test_cli_reports_bad_input_and_exits_nonzero(tmp_path, mini_raw):
    (mini_raw / "test_round" / "coded" / "x.csv").write_text("Norfolk,A2,yes\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "analysis", "build", "--tables-only", "--raw", str(mini_raw),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "x.csv" in r.stderr and "no header row" in r.stderr and "Fix:" in r.stderr
    assert not (tmp_path / "o").exists()


def test_cli_leaves_the_garbage_collector_as_it_found_it(tmp_path, mini_raw):
    """main() pauses the collector for its imports and freezes what exists then (speed); an
    in-process caller must get normal collection back, whether the command worked or failed."""
    import gc

    from analysis.cli import main

    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert main(["build", "--tables-only", "--raw", str(mini_raw), "--out", str(tmp_path / "o")]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    (mini_raw / "test_round" / "coded" / "x.csv").write_text("Norfolk,A2,yes\n", encoding="utf-8")
    assert main(["build", "--tables-only", "--raw", str(mini_raw), "--out", str(tmp_path / "p")]) == 1
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(SystemExit):  # argparse exits for --help (and for bad arguments)
        main(["build", "--help"])
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        main(["build", "--tables-only", "--raw", str(mini_raw), "--out", str(tmp_path / "q")])
        assert not gc.isenabled() and gc.get_freeze_count() == 0  # a caller's choice is kept
    finally:
        gc.enable()


def test_strict_fails_on_rejects(mini_raw, tmp_path):
    from analysis.errors import InputError

    (mini_raw / "test_round" / "coded" / "x.csv").write_text("force,A2\nAtlantis,yes\n", encoding="utf-8")
    with pytest.raises(InputError, match="rejected"):
        build(Paths(raw=mini_raw, processed=tmp_path / "o"), tables_only=True, strict=True, log=lambda s: None)
    res = build(Paths(raw=mini_raw, processed=tmp_path / "o"), tables_only=True, log=lambda s: None)
    assert "unknown force 'Atlantis'" in res.tables["rejects"]["reason"].iloc[0]


def test_data_dictionary_covers_every_column(shipped_paths):
    d = pd.read_csv(shipped_paths.processed / "data_dictionary.csv")
    for p in shipped_paths.processed.glob("*.csv"):
        if p.stem == "data_dictionary":
            continue
        cols = pd.read_csv(p, nrows=0).columns
        documented = set(d.loc[d["table"] == p.stem, "column"])
        assert set(cols) <= documented, p.stem


def test_paths_do_not_depend_on_working_directory(tmp_path):
    code = "import analysis.paths as p; print(p.RAW)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert Path(r.stdout.strip()) == Paths().raw


def test_build_keeps_the_processed_readme(tmp_path):
    from analysis.build import PROCESSED_README, write_tables
    from analysis.paths import PROCESSED

    assert (PROCESSED / "README.md").read_text(encoding="utf-8") == PROCESSED_README
    write_tables({}, tmp_path / "p")
    assert (tmp_path / "p" / "README.md").read_text(encoding="utf-8") == PROCESSED_README


def test_inputs_table_checksums_every_shipped_file_and_the_code(shipped_tables):
    """What the outputs were built from: each data file under data/raw/ once, with its size,
    SHA-256 and role, reconciliation counts where it holds records, and the code's fingerprint."""
    from analysis.draft_cache import code_fingerprint
    from analysis.paths import RAW

    inputs = shipped_tables["inputs"]
    files = inputs[inputs["role"] != "code"]
    on_disk = sorted(p.relative_to(RAW).as_posix() for p in RAW.rglob("*")
                     if p.is_file() and p.suffix != ".md" and not p.name.startswith("."))
    assert files["file"].tolist() == on_disk
    for row in files.itertuples():
        data = (RAW / row.file).read_bytes()
        assert row.bytes == len(data) and row.sha256 == hashlib.sha256(data).hexdigest()
    roles = dict(zip(files["file"], files["role"]))
    assert roles["codebook.yaml"] == "codebook" and roles["rounds.yaml"] == "rounds"
    assert roles["reference/forces.csv"] == "reference"
    assert roles["core_business_2014/letters/norfolk_2014-09-03.txt"] == "letters"
    assert roles["peel_2015/grades/public_sources_grades.csv"] == "grades"
    assert "not_read" not in roles.values()
    recon = shipped_tables["reconciliation"].groupby("file")["records_read"].sum()
    counted = files.dropna(subset=["records_read"]).set_index("file")["records_read"]
    assert counted.to_dict() == recon.to_dict()
    code = inputs[inputs["role"] == "code"]
    assert len(code) == 1 and code["sha256"].iloc[0] == code_fingerprint()


def test_figure_index_lists_every_chart_with_its_title_and_alt_text(tmp_path, monkeypatch):
    """reports/figures/index.csv: one row per exported chart (compare/ too) with the title and
    alt text its files carry, and a row for each planned chart the build did not draw."""
    from analysis import build as build_mod
    from analysis.paths import RAW

    monkeypatch.setattr(build_mod, "report_tasks", lambda tables, notebooks, paths: [
        ("charts", {"rounds": ["peel_2014"], "keys": ["02_criterion_A5", "02_criterion_F4"]}),
        ("compare_charts", {"chart_keys": ["grade_distribution"]})])
    paths = Paths(raw=RAW, processed=tmp_path / "p", reports=tmp_path / "r")
    log: list[str] = []
    build(paths, notebooks=False, jobs=1, log=log.append)
    assert any("1 report chart(s) not drawn" in line and "peel_2014_02_criterion_F4" in line for line in log)
    index = pd.read_csv(paths.figures / "index.csv", dtype={"note": "string"}, keep_default_na=False)
    assert index["chart"].tolist() == ["compare/grade_distribution", "peel_2014_02_criterion_A5",
                                       "peel_2014_02_criterion_F4"]
    assert index["drawn"].tolist() == [True, True, False]
    a5 = index.iloc[1]
    assert a5["alt_text"] == (paths.figures / "peel_2014_02_criterion_A5.alt.txt").read_text(encoding="utf-8").strip()
    from analysis import charts
    from analysis.io import load_tables

    chart = dict(charts.chart_plan(load_tables(paths.processed), "peel_2014", RAW))["02_criterion_A5"]()
    assert a5["title"] == chart.figure.get_label() == chart.title  # (no marks on the shipped data)
    chart.figure.clear()
    svg = (paths.figures / "peel_2014_02_criterion_A5.svg").read_text(encoding="utf-8")
    assert f">{a5['title'].replace('&', '&amp;')}</title>" in svg
    assert index.iloc[2]["note"].startswith("not drawn: nothing to show")
    assert not (paths.figures / "peel_2014_02_criterion_F4.svg").exists()


def test_build_plans_the_explorer_for_a2_and_f4(shipped_tables):
    from analysis.build import report_tasks

    nb = [kw for kind, kw in report_tasks(shipped_tables, True, Paths()) if kind == "notebook"]
    explorer = [kw for kw in nb if kw["notebook"].endswith("03_criterion_explorer.ipynb")]
    assert [kw.get("parameters") for kw in explorer] == [None, {"criterion": "F4"}]
    assert len(nb) == len(list(Paths().notebooks.glob("0*.ipynb"))) + 1
    # the build log names each run as the file it writes (the F4 run is not a second A2 run)
    from analysis.build import _describe

    assert [_describe(kw) for kw in explorer] == ["03_criterion_explorer.ipynb", "03_criterion_explorer_F4.ipynb"]
    charts = {"rounds": ["peel_2014"], "keys": ["02_criterion_A5", "02_criterion_F4"]}
    assert _describe(charts) == "peel_2014: 02_criterion_A5, 02_criterion_F4"  # (before drawing)
    drawn = [Path("f/peel_2014_02_criterion_A5.png"), Path("f/peel_2014_02_criterion_A5.svg")]
    assert _describe(charts, drawn) == "peel_2014: 02_criterion_A5"
    assert _describe(charts, []) == "peel_2014: nothing to draw"


def test_a_table_failing_validation_is_never_swapped_in(tmp_path, monkeypatch):
    """The build validates the tables while they are written; a failure (a bug) leaves the
    previous outputs as they were and names the table."""
    from analysis import build as build_mod
    from analysis.paths import RAW
    paths = Paths(raw=RAW, processed=tmp_path / "out", reports=tmp_path / "reports")
    build(paths, tables_only=True, log=lambda s: None)
    first = _digest(paths.processed)
    real = build_mod.build_tables

    def broken(*args, **kwargs):
        tables = real(*args, **kwargs)
        tables["matrix"] = tables["matrix"].assign(status=pd.Series("maybe", index=tables["matrix"].index,
                                                                    dtype="string"))
        return tables
    monkeypatch.setattr(build_mod, "build_tables", broken)
    with pytest.raises(RuntimeError, match="matrix"):
        build(paths, tables_only=True, log=lambda s: None)
    assert _digest(paths.processed) == first
    assert not list(tmp_path.glob(".out.*"))


def test_cli_imports_only_the_command_it_runs():
    """`python -m analysis build` parses with a parser holding only the build command (the other
    command modules stay unimported); the same arguments give the same namespace as the full
    parser, and anything that is not a command module's own name gets the full parser."""
    code = ("import sys; from analysis import cli; full = cli.make_parser(); "
            "mods = set(sys.modules); one = cli.make_parser('build'); "
            "argv = ['build', '--tables-only', '--out', 'x', '--no-cache']; "
            "a, b = vars(full.parse_args(argv)), vars(one.parse_args(argv)); "
            "assert {k: v for k, v in a.items() if k != 'func'} == {k: v for k, v in b.items() if k != 'func'}; "
            "del sys.modules['analysis.charts']; cli.make_parser('build'); "
            "assert 'analysis.charts' not in sys.modules; "
            "help_full = cli.make_parser('--help').format_help(); "
            "assert 'charts' in help_full and 'parse-letters' in help_full")
    subprocess.run([sys.executable, "-c", code], check=True)
