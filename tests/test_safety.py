"""Safety: a killed build loses nothing, builds are deterministic, nothing from input is executed,
input names cannot write outside the output folders, and embargoed rounds stay unexported unless
asked for (and are then marked EMBARGOED).

The report tests run the real ``build`` with a reduced set of report pieces (monkeypatching
``build.report_tasks``), so they stay quick while going through the same code as a full build.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from analysis import build as build_mod
from analysis import safeyaml
from analysis.build import build, recover
from analysis.errors import InputError
from analysis.io import safe_stem
from analysis.paths import RAW, Paths

SRC = Path(build_mod.__file__).resolve().parent
HEADER = ["Force", "Criterion", "Value", "Source kind", "Evidence"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_csv(path: Path, rows) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _reduced(keep_keys=("01_framework_matrix", "02_criterion_A2"), workbook=False, compare=False):
    """A report_tasks replacement: only the given chart keys (and the workbook / comparison
    charts when asked), from the real task list."""
    real = build_mod.report_tasks

    def tasks(tables, notebooks, paths):
        out = []
        for kind, kw in real(tables, False, paths):
            if kind == "charts":
                keys = [k for k in kw["keys"] if any(k.startswith(p) for p in keep_keys)]
                if keys:
                    out.append((kind, {**kw, "keys": keys}))
            elif (kind == "workbook" and workbook) or (kind == "compare_charts" and compare):
                out.append((kind, kw))
        return out
    return tasks


# ----- crash safety -------------------------------------------------------------------------------
def _start_build(raw: Path, out: Path, delay: str) -> subprocess.Popen:
    env = {**os.environ, build_mod.TEST_DELAY_ENV: delay, "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "analysis", "build", "--tables-only", "--raw", str(raw),
                             "--out", str(out / "processed"), "--reports", str(out / "reports")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait_for(proc: subprocess.Popen, marker: str, limit: float = 120) -> list[str]:
    seen, start = [], time.monotonic()
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return seen
        if time.monotonic() - start > limit:
            break
    proc.kill()
    raise AssertionError(f"build never reached {marker!r}:\n{''.join(seen)}")


def _add_row(raw: Path) -> None:
    """A change to the inputs, so the killed build would have written different tables."""
    _write_csv(raw / "core_business_2014" / "coded" / "zz_extra.csv",
               [HEADER, ["Kent", "A2", "no", "press_summary", "extra row for the crash test"]])


@pytest.mark.parametrize("point", ["before_swap", "mid_swap"])
def test_killed_build_leaves_previous_outputs_and_next_build_recovers(raw_copy, tmp_path, point):
    out = tmp_path / "out"
    paths = Paths(raw=raw_copy, processed=out / "processed", reports=out / "reports")
    build(paths, tables_only=True, log=lambda s: None)
    before = _files(paths.processed)
    assert "findings.csv" in before and "findings.parquet" in before
    _add_row(raw_copy)

    proc = _start_build(raw_copy, out, f"{point}:60")
    _wait_for(proc, f"test delay: {point}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stale = sorted(p.name for p in out.iterdir() if p.name.startswith(".processed."))
    if point == "before_swap":
        # the new tables were complete in a temp folder; the outputs were never touched
        assert stale == [f".processed.tmp-{proc.pid}"]
        assert _files(paths.processed) == before
    else:
        # killed between the two renames: the previous outputs wait, intact, beside the folder
        assert not paths.processed.exists() and ".processed.old" in stale
        assert _files(out / ".processed.old") == before
        recover(paths.processed)
        assert _files(paths.processed) == before

    res = build(paths, tables_only=True, log=lambda s: None)  # the next build repairs and finishes
    assert not [p for p in out.iterdir() if p.name.startswith(".processed.")]
    after = _files(paths.processed)
    assert after != before and "extra row for the crash test" in after["findings.csv"].decode("utf-8")
    assert len(res.tables["findings"]) == len(pd.read_parquet(paths.processed / "findings.parquet"))


def test_ctrl_c_says_one_line_and_leaves_previous_outputs(raw_copy, tmp_path):
    """Ctrl-C printed a traceback from each process (about 40 lines); the outputs were safe."""
    out = tmp_path / "out"
    paths = Paths(raw=raw_copy, processed=out / "processed", reports=out / "reports")
    build(paths, tables_only=True, log=lambda s: None)
    before = _files(paths.processed)
    _add_row(raw_copy)
    proc = _start_build(raw_copy, out, "before_swap:60")
    _wait_for(proc, "test delay: before_swap")
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130
    assert "interrupted: each output folder is as the last complete build left it" in rest
    assert "Traceback" not in rest
    assert _files(paths.processed) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".processed.")]


def test_second_build_into_the_same_folder_stops_at_once_naming_the_first(raw_copy, tmp_path):
    """Two builds swapping one folder at once could crash one of them mid-swap (a traceback and a
    temp folder left behind); a lock left by a killed build is taken over."""
    out = tmp_path / "out"
    paths = Paths(raw=raw_copy, processed=out / "processed", reports=out / "reports")
    proc = _start_build(raw_copy, out, "before_swap:60")
    _wait_for(proc, "test delay: before_swap")
    with pytest.raises(InputError, match=rf"another build \(process {proc.pid}\) is writing to this folder"):
        build(paths, tables_only=True, log=lambda s: None)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / ".processed-build.lock").exists()  # (left by the killed build)
    build(paths, tables_only=True, log=lambda s: None)
    assert not (out / ".processed-build.lock").exists() and (paths.processed / "matrix.csv").exists()


def test_failed_report_export_keeps_previous_reports(tmp_path, monkeypatch):
    paths = Paths(raw=RAW, processed=tmp_path / "processed", reports=tmp_path / "reports")
    monkeypatch.setattr(build_mod, "report_tasks", _reduced(("02_criterion_A2",)))
    build(paths, notebooks=False, jobs=1, log=lambda s: None)
    before = _files(paths.reports)
    assert any(name.endswith("criterion_A2.svg") for name in before)

    def broken(*args, **kwargs):
        raise RuntimeError("chart failed half-way")
    monkeypatch.setattr(build_mod, "run_report_task", broken)
    with pytest.raises(RuntimeError, match="half-way"):
        build(paths, notebooks=False, jobs=1, log=lambda s: None)
    assert _files(paths.reports) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".reports.")]


# ----- determinism --------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_builds_give_byte_identical_csv_parquet_and_svg(tmp_path, monkeypatch):
    """Same inputs, two builds (one in this process, one sharing the charts out between two
    processes): every CSV, Parquet and SVG identical."""
    monkeypatch.setattr(build_mod, "report_tasks",
                        _reduced(("01_framework_matrix", "02_criterion_A2", "03_coverage_by_criterion")))
    outs = []
    for name, jobs in (("a", 1), ("b", 2)):
        paths = Paths(raw=RAW, processed=tmp_path / name / "processed", reports=tmp_path / name / "reports")
        build(paths, notebooks=False, jobs=jobs, log=lambda s: None)
        outs.append({**{f"processed/{k}": v for k, v in _files(paths.processed).items()},
                     **{f"reports/{k}": v for k, v in _files(paths.reports).items()}})
    a, b = outs
    assert sorted(a) == sorted(b)
    checked = [k for k in a if k.endswith((".csv", ".parquet", ".svg"))]
    assert sum(k.endswith(".svg") for k in checked) == 2 * 3  # two coded rounds x three charts
    assert any(k.endswith(".parquet") for k in checked)
    different = [k for k in checked if a[k] != b[k]]
    assert not different, different


# ----- nothing from input is executed -------------------------------------------------------------
def test_yaml_tags_are_refused_not_run(mini_raw):
    marker = mini_raw.parent / "pwned"
    (mini_raw / "codebook.yaml").write_text(f"!!python/object/apply:os.system ['touch {marker}']\n",
                                            encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        build_mod.load_inputs(Paths(raw=mini_raw))
    assert not marker.exists()
    # rounds.yaml: see test_hostile.test_rounds_yaml_errors (same refusal)


def _source_files():
    return [p for p in SRC.rglob("*.py")]


def test_no_pickle_eval_or_unsafe_yaml_in_the_package():
    banned = re.compile(r"\bimport pickle\b|\bpickle\.|read_pickle|to_pickle|\bjoblib\b|\bdill\b|\bshelve\b|"
                        r"\bmarshal\.|(?<![\w.])eval\(|(?<![\w.])exec\(|yaml\.load\(|unsafe_load|full_load|"
                        r"yaml\.(Unsafe|Full)?Loader\b|allow_pickle\s*=\s*True")
    hits = [f"{p.relative_to(SRC)}:{n}: {line.strip()}" for p in _source_files() if p.name != "safeyaml.py"
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if banned.search(line)]
    assert not hits, hits
    # every YAML read goes through analysis.safeyaml, whose only loader is a safe one
    yaml_reads = {p.name for p in _source_files() if "safeyaml.safe_load(" in p.read_text(encoding="utf-8")}
    assert {"codebook.py", "rounds.py", "coding.py"} <= yaml_reads
    direct = [p.name for p in _source_files() if p.name != "safeyaml.py"
              and re.search(r"(?<![\w.])yaml\.(safe_)?load\(", p.read_text(encoding="utf-8"))]
    assert not direct, direct
    safe_src = (SRC / "safeyaml.py").read_text(encoding="utf-8")
    assert re.findall(r"yaml\.load\(([^)]*)\)", safe_src) == ["text, Loader=_Loader"]
    assert safeyaml.SAFE_LOADER in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", None))
    # the safe loader with one constructor swapped (mappings refuse a key given twice): no tag
    # outside YAML's own plain types is added
    assert issubclass(safeyaml._Loader, safeyaml.SAFE_LOADER)
    assert all(t is None or t.startswith("tag:yaml.org,2002:") for t in safeyaml._Loader.yaml_constructors)
    assert not safeyaml._Loader.yaml_multi_constructors


@pytest.mark.parametrize("doc", ['!!python/object/apply:os.system ["echo pwned"]',
                                 "a: !!python/name:os.system", "!!python/object:analysis.paths.Paths {}"])
def test_yaml_python_tags_are_refused_not_run(doc):
    with pytest.raises(safeyaml.YAMLError):
        safeyaml.safe_load(doc)


def test_safe_yaml_reads_the_shipped_files_as_the_pure_python_safe_loader_does():
    for path in (RAW / "codebook.yaml", RAW / "rounds.yaml"):
        text = path.read_text(encoding="utf-8")
        assert safeyaml.safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader)
    # formulas in input cells: rejected, never evaluated -> test_hostile.test_formula_cells_rejected


FORMULAS = ['=HYPERLINK("http://example.invalid","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "=1+1"]


def test_formula_like_text_is_neutralised_in_csv_and_xlsx(mini_raw, tmp_path, monkeypatch):
    rows = [HEADER] + [[force, "A2", "no", "press_summary", text]
                       for force, text in zip(["Kent", "Suffolk", "Norfolk", "Essex", "Surrey"], FORMULAS)]
    rows.append(["=cmd|' /C calc'!A0", "A2", "yes", "letter", "a bad force name, rejected"])
    _write_csv(mini_raw / "test_round" / "coded" / "formulas.csv", rows)
    paths = Paths(raw=mini_raw, processed=tmp_path / "processed", reports=tmp_path / "reports")
    monkeypatch.setattr(build_mod, "report_tasks", _reduced(keep_keys=(), workbook=True))
    build(paths, notebooks=False, jobs=1, log=lambda s: None)

    # Parquet keeps the text exactly; the CSV guards it with a leading apostrophe
    assert set(pd.read_parquet(paths.processed / "findings.parquet")["evidence"]) == set(FORMULAS)
    with open(paths.processed / "findings.csv", encoding="utf-8", newline="") as fh:
        evidence = [r["evidence"] for r in csv.DictReader(fh)]
    assert sorted(evidence) == sorted("'" + t for t in FORMULAS)
    with open(paths.processed / "rejects.csv", encoding="utf-8", newline="") as fh:
        raw = [r["raw"] for r in csv.DictReader(fh)]
    assert raw and all(not r.startswith(("=", "+", "-", "@")) for r in raw)
    assert any(r.startswith("'=cmd") for r in raw)

    # the workbook: every such text is a string cell with Excel's quote prefix, never a formula
    wb = openpyxl.load_workbook(paths.reports / "tables.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))]
    assert {c.value for c in cells} >= set(FORMULAS)
    assert all(c.data_type == "s" and c.quotePrefix for c in cells), [(c.coordinate, c.value) for c in cells]


def test_chart_data_csv_is_neutralised(tmp_path, shipped_tables):
    from analysis import charts

    c = charts.criterion_counts(shipped_tables, "A2")
    data = c.data.assign(forces=["=1+1", "+cmd", "-x", "@y"][: len(c.data)] + [""] * max(0, len(c.data) - 4))
    files = charts.export_chart(c.figure, data, c.name, c.alt_text, tmp_path)
    text = files[2].read_text(encoding="utf-8")
    assert "'=1+1" in text and "'+cmd" in text and not re.search(r"(^|,)=1\+1", text, re.M)
    c.figure.clear()


# ----- paths --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../evil", "a/b", "a\\b", "C:evil", ".hidden", "x/../../y", "ok_name-1.2"])
def test_safe_stem_never_leaves_the_folder(tmp_path, name):
    stem = safe_stem(name)
    assert "/" not in stem and "\\" not in stem and ":" not in stem and not stem.startswith(".")
    target = (tmp_path / f"{stem}.png").resolve()
    assert target.parent == tmp_path.resolve()
    with pytest.raises(ValueError):
        safe_stem("..")


def test_round_id_with_path_parts_is_refused(mini_raw):
    (mini_raw / "rounds.yaml").write_text("rounds:\n  - id: ../../evil\n    kind: [coded]\n", encoding="utf-8")
    with pytest.raises(InputError, match="lower_snake_case"):
        build_mod.load_inputs(Paths(raw=mini_raw))


def _everything_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _evil_source_raw(tmp_path: Path, evil_cid: str, evil_force: str) -> Path:
    """Codebook and forces with ids that look like paths (criterion F4 and force kent renamed)."""
    import yaml

    src = tmp_path / "src_raw"
    (src / "reference").mkdir(parents=True)
    doc = yaml.safe_load((RAW / "codebook.yaml").read_text(encoding="utf-8"))
    for c in doc["criteria"]:
        if c["id"] == "F4":
            c["id"] = evil_cid
    (src / "codebook.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    forces = pd.read_csv(RAW / "reference" / "forces.csv", dtype="string", keep_default_na=False)
    forces.loc[forces["force_id"] == "kent", "force_id"] = evil_force
    forces.to_csv(src / "reference" / "forces.csv", index=False)
    aliases = (RAW / "reference" / "force_aliases.csv").read_text(encoding="utf-8")
    (src / "reference" / "force_aliases.csv").write_text(re.sub(r",kent$", f",{evil_force}", aliases, flags=re.M),
                                                         encoding="utf-8")
    return src


def test_criterion_and_force_ids_with_path_parts_write_inside_the_output(tmp_path, monkeypatch):
    """A codebook id and a force id that look like paths: the chart and letter files named after
    them still land inside reports/ and the round's letters/ folder."""
    from analysis.synthetic import make_synthetic_raw

    evil_cid, evil_force = "F4/../../../../evil", "../../../kent"
    src = _evil_source_raw(tmp_path, evil_cid, evil_force)
    with_letters = make_synthetic_raw(tmp_path / "letters_case" / "raw", n_rounds=1, seed=1, n_letters=43,
                                      source_raw=src, grades=False)
    letters = with_letters.raw / "synthetic_round_1" / "letters"
    assert len(list(letters.iterdir())) == 43
    assert all(p.resolve().parent == letters.resolve() for p in letters.iterdir())

    paths = make_synthetic_raw(tmp_path / "work" / "raw", n_rounds=1, seed=1, source_raw=src, grades=False)
    before = set(_everything_under(tmp_path))
    monkeypatch.setattr(build_mod, "report_tasks", _reduced(keep_keys=("02_criterion_F4",)))
    res = build(paths, notebooks=False, jobs=1, log=lambda s: None)
    assert evil_force in set(res.tables["forces"]["force_id"])
    new = set(_everything_under(tmp_path)) - before
    allowed = (paths.processed.resolve(), paths.reports.resolve())
    outside = [p for p in new if not any(a in p.resolve().parents for a in allowed)]
    assert not outside, outside
    charts = [p for p in new if p.suffix == ".svg"]
    assert charts and all(p.resolve().parent == (paths.reports / "figures").resolve() for p in charts)
    assert all("evil" in p.name for p in charts)


# ----- embargo ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embargo_raw(tmp_path_factory):
    from analysis.synthetic import make_synthetic_raw

    return make_synthetic_raw(tmp_path_factory.mktemp("embargo") / "raw", n_rounds=2, seed=3, grades=False,
                              embargo_until="2999-01-01T00:01").raw


def _cover_text(path: Path) -> str:
    wb = openpyxl.load_workbook(path, read_only=True)
    return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row
                     if v is not None)


def test_embargoed_round_is_not_exported_without_the_flag(embargo_raw, tmp_path, monkeypatch):
    paths = Paths(raw=embargo_raw, processed=tmp_path / "processed", reports=tmp_path / "reports")
    monkeypatch.setattr(build_mod, "report_tasks", _reduced(("02_criterion_A2",), workbook=True, compare=True))
    log: list[str] = []
    build(paths, notebooks=True, jobs=1, log=log.append)
    text = "\n".join(log)
    assert "round synthetic_round_1 is EMBARGOED until 00:01 on 1 January 2999" in text
    assert "--allow-embargoed" in text and "notebooks not executed" in text
    # the working tables keep it; nothing under reports/ shows it
    assert "synthetic_round_1" in set(pd.read_parquet(paths.processed / "findings.parquet")["round"])
    names = [p.name for p in _everything_under(paths.reports)]
    assert any("synthetic_round_2" in n for n in names)
    assert not any("synthetic_round_1" in n for n in names)
    for p in _everything_under(paths.reports):
        if p.suffix in (".csv", ".txt", ".svg"):
            body = p.read_text(encoding="utf-8")
            assert "synthetic_round_1" not in body and "EMBARGOED" not in body, p.name
    book = _cover_text(paths.reports / "tables.xlsx")
    assert "synthetic_round_1" not in book and "EMBARGOED" not in book


def test_embargoed_round_exported_with_the_flag_is_marked(embargo_raw, tmp_path, monkeypatch):
    paths = Paths(raw=embargo_raw, processed=tmp_path / "processed", reports=tmp_path / "reports")
    monkeypatch.setattr(build_mod, "report_tasks", _reduced(("02_criterion_A2",), workbook=True))
    build(paths, notebooks=False, jobs=1, allow_embargoed=True, log=lambda s: None)
    mark = "EMBARGOED until 00:01 on 1 January 2999"
    stem = paths.reports / "figures" / "synthetic_round_1_02_criterion_A2"
    assert mark in stem.with_suffix(".alt.txt").read_text(encoding="utf-8")
    assert mark in stem.with_suffix(".svg").read_text(encoding="utf-8")  # dc:description
    from PIL import Image

    with Image.open(stem.with_suffix(".png")) as im:
        assert mark in im.text["Description"]
    data = pd.read_csv(stem.with_suffix(".csv"))
    assert (data["embargoed"] == mark).all()
    # the round that is not under embargo is not marked
    other = paths.reports / "figures" / "synthetic_round_2_02_criterion_A2.alt.txt"
    assert "EMBARGOED" not in other.read_text(encoding="utf-8")
    assert mark in _cover_text(paths.reports / "tables.xlsx")


def test_embargo_note_in_the_cli_and_exit_code(embargo_raw, tmp_path, monkeypatch, capsys):
    from analysis.cli import main

    monkeypatch.setattr(build_mod, "report_tasks", _reduced(keep_keys=()))
    rc = main(["build", "--raw", str(embargo_raw), "--out", str(tmp_path / "p"), "--reports", str(tmp_path / "r"),
               "--no-notebooks", "--jobs", "1"])
    assert rc == 0
    assert "round synthetic_round_1 is EMBARGOED until 00:01 on 1 January 2999" in capsys.readouterr().out


def test_compare_command_refuses_an_embargoed_round_unless_allowed_then_marks_it(embargo_raw, tmp_path, capsys):
    """`compare` wrote an embargoed round's comparison unmarked, and with --charts asked for an
    --allow-embargoed flag it did not have."""
    from analysis.cli import main

    paths = Paths(raw=embargo_raw, processed=tmp_path / "p", reports=tmp_path / "r")
    build(paths, tables_only=True, log=lambda s: None)
    args = ["compare", "--baseline", "synthetic_round_1", "--update", "synthetic_round_2", "--raw", str(embargo_raw),
            "--out", str(paths.processed), "--reports", str(paths.reports)]
    assert main(args) != 0
    assert "EMBARGOED until 00:01 on 1 January 2999" in capsys.readouterr().err
    assert not (paths.reports / "compare").exists()
    assert main(args + ["--allow-embargoed"]) == 0
    written = sorted((paths.reports / "compare" / "synthetic_round_1__synthetic_round_2").glob("*.csv"))
    assert written and all((pd.read_csv(f)["embargoed"] == "EMBARGOED until 00:01 on 1 January 2999").all()
                           for f in written)


# ----- output folders the build must not replace ------------------------------------------------------
def _raw_copy(tmp_path):
    import shutil

    raw = tmp_path / "proj" / "raw"
    shutil.copytree(RAW, raw)
    return raw


@pytest.mark.parametrize("where", ["raw", "parent", "inside"])
def test_out_that_is_the_raw_folder_or_holds_it_is_refused_and_raw_kept(tmp_path, where):
    """The build replaces --out whole: --out equal to --raw replaced the raw data by the tables, and
    its parent deleted raw/ (exit code 0)."""
    from analysis.build import build

    raw = _raw_copy(tmp_path)
    out = {"raw": raw, "parent": raw.parent, "inside": raw / "processed"}[where]
    before = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*"))
    with pytest.raises(InputError, match="--out is the raw data folder") as exc:
        build(Paths(raw=raw, processed=out, reports=tmp_path / "r"), tables_only=True, log=lambda s: None)
    assert "Fix: give --out a folder outside the raw data" in str(exc.value)
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*")) == before


def test_reports_and_out_in_one_folder_are_refused(tmp_path):
    from analysis.build import build

    with pytest.raises(InputError, match="--reports and --out are the same folder"):
        build(Paths(raw=RAW, processed=tmp_path / "o", reports=tmp_path / "o"), log=lambda s: None)


def test_out_holding_other_files_or_being_a_file_is_not_replaced(tmp_path):
    """An --out folder of someone's documents was deleted; a file was turned into a folder."""
    from analysis.build import build

    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("my thesis", encoding="utf-8")
    with pytest.raises(InputError, match=r"mydocs: holds files the build did not write \('thesis.txt'"):
        build(Paths(raw=RAW, processed=docs, reports=tmp_path / "r"), tables_only=True, log=lambda s: None)
    assert (docs / "thesis.txt").read_text(encoding="utf-8") == "my thesis"
    afile = tmp_path / "afile"
    afile.write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, not a folder"):
        build(Paths(raw=RAW, processed=afile, reports=tmp_path / "r"), tables_only=True, log=lambda s: None)
    assert afile.read_text(encoding="utf-8") == "hello"


def test_output_folders_of_earlier_builds_are_replaced(tmp_path):
    """A folder the build wrote carries its mark; one from before the mark (or the repository's
    data/processed with only its README) is recognised by what it holds."""
    from analysis.build import OUTPUT_MARK, build

    out = tmp_path / "p"
    build(Paths(raw=RAW, processed=out, reports=tmp_path / "r"), tables_only=True, log=lambda s: None)
    assert (out / OUTPUT_MARK).exists()
    (out / OUTPUT_MARK).unlink()  # (an older build's folder)
    build(Paths(raw=RAW, processed=out, reports=tmp_path / "r"), tables_only=True, log=lambda s: None)
    only_readme = tmp_path / "fresh"
    only_readme.mkdir()
    (only_readme / "README.md").write_text("x", encoding="utf-8")
    build(Paths(raw=RAW, processed=only_readme, reports=tmp_path / "r"), tables_only=True, log=lambda s: None)
    assert (only_readme / "matrix.csv").exists()
