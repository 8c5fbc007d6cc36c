"""``python -m analysis build``: rebuild every processed table (and the reports) from data/raw/.

Steps: read the codebook, forces and rounds registry; load each round's coded sheets, letters,
grades and measures; resolve the framework matrix and conflicts; validate every table (pandera,
lazy); check the reconciliation (records read = used + rejected, per file); write CSV + Parquet
and the data dictionary to a temporary folder and swap it in only when everything succeeded, so a
failed or killed build leaves the previous outputs untouched. Then, unless ``--tables-only``,
export charts, the Excel workbook and the executed notebooks the same way.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from . import schemas
from .codebook import Codebook
from .coded import CodedLoader, FileResult, findings_frame
from .errors import InputError
from .facts import load_grades, load_measures
from .forces import ForceResolver
from .io import fsync_dir, write_table
from .paths import Paths
from .resolve import resolve
from .rounds import Rounds
from .sheets import SPREADSHEET_SUFFIXES

# Optional feature modules: each contributes tables through a documented function.
_LETTERS, _AGREEMENT, _COMPARE = "letters", "agreement", "compare"


def _feature(name: str):
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{name}":
            return None
        raise


@dataclass
class Inputs:
    paths: Paths
    codebook: Codebook
    resolver: ForceResolver
    rounds: Rounds


@dataclass
class BuildResult:
    tables: dict[str, pd.DataFrame]
    processed: Path
    reports: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def load_inputs(paths: Paths) -> Inputs:
    codebook = Codebook.load(paths.codebook)
    resolver = ForceResolver.from_files(paths.forces, paths.force_aliases)
    rounds = Rounds.load(paths.rounds)
    for r in rounds:
        if not paths.round_dir(r.id).is_dir():
            raise InputError(paths.rounds, f"round {r.id}", f"folder data/raw/{r.id}/ does not exist",
                             "create the folder with the round's files, or remove the entry")
    return Inputs(paths, codebook, resolver, rounds)


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(("~$", ".")))


def build_tables(inputs: Inputs, log: Callable[[str], None] = print) -> dict[str, pd.DataFrame]:
    """All processed tables, validated, in memory."""
    paths, codebook, resolver, rounds = inputs.paths, inputs.codebook, inputs.resolver, inputs.rounds
    loader = CodedLoader(codebook, resolver, paths.raw)
    findings, rejects, suppress, grades, measures, recon = [], [], [], [], [], []
    extra: dict[str, list[pd.DataFrame]] = {}
    letters = _feature(_LETTERS)

    for rnd in rounds:
        rdir = paths.round_dir(rnd.id)
        for path in _files(rdir / "coded", SPREADSHEET_SUFFIXES):
            res: FileResult = loader.load_file(path, rnd.id, synthetic=rnd.synthetic)
            findings.extend(res.findings)
            rejects.extend(res.rejects)
            suppress.extend(res.suppress)
            recon.append({"round": rnd.id, "file": loader.rel(path), "table": "findings",
                          "records_read": res.records_read, "used": res.used, "rejected": len(res.rejects)})
            for sheet in res.skipped_sheets:
                log(f"  note: {loader.rel(path)}: sheet {sheet} skipped")
        letter_files = _files(rdir / "letters", (".txt", ".pdf", ".docx"))
        if letter_files:
            if letters is None:
                raise InputError(rdir / "letters", None, "letters found but the letters module is missing",
                                 "install the full package")
            out = letters.draft_findings(rdir / "letters", rnd.id, codebook, resolver, paths.raw)
            drafts = out["findings"].assign(synthetic=rnd.synthetic)
            findings.extend(drafts.to_dict("records"))
            for name in ("letters", "letter_findings", "draft_codes"):
                extra.setdefault(name, []).append(out[name])
            if len(out.get("rejects", [])):
                rejects.extend(out["rejects"].to_dict("records"))
            parsed = out["letter_findings"]
            for src, n in parsed.groupby("source_file").size().items():
                recon.append({"round": rnd.id, "file": loader.rel(rdir / "letters" / Path(src).name),
                              "table": "letter_findings", "records_read": int(n), "used": int(n), "rejected": 0})
        for path in _files(rdir / "grades", (".csv",)):
            g = load_grades(path, rnd.id, resolver, loader.rel(path))
            grades.append(g)
            recon.append({"round": rnd.id, "file": loader.rel(path), "table": "grades",
                          "records_read": len(g), "used": len(g), "rejected": 0})
        for path in _files(rdir / "measures", (".csv",)):
            m = load_measures(path, rnd.id, resolver, loader.rel(path))
            measures.append(m)
            recon.append({"round": rnd.id, "file": loader.rel(path), "table": "measures",
                          "records_read": len(m), "used": len(m), "rejected": 0})

    findings_df = findings_frame(findings)
    before_review = findings_df  # agreement measures the draft coder itself, before analysts' rejections
    findings_df, review_rejects = _apply_review_rejections(findings_df, suppress)
    rejects.extend(review_rejects)
    findings_df = findings_df.sort_values(
        ["round", "force_id", "criterion_id", "source_kind", "source_ref", "value"], ignore_index=True)

    coded_rounds = [r.id for r in rounds if {"coded", "letters"} & set(r.kind)]
    matrix, conflicts = resolve(findings_df, resolver.forces, codebook, coded_rounds,
                                {r.id: r.synthetic for r in rounds})
    tables = {
        "forces": schemas.conform("forces", resolver.forces),
        "criteria": schemas.conform("criteria", codebook.criteria_table()),
        "rounds": schemas.conform("rounds", rounds.table()),
        "findings": findings_df,
        "matrix": matrix,
        "conflicts": conflicts,
        "grades": _concat("grades", grades, ["round", "force_id", "question_id", "source_ref"]),
        "measures": _concat("measures", measures, ["round", "force_id", "measure", "source_ref"]),
        "rejects": (schemas.conform("rejects", pd.DataFrame(rejects)).sort_values(
            ["round", "file", "location", "reason"], ignore_index=True) if rejects else schemas.empty("rejects")),
        "reconciliation": (schemas.conform("reconciliation", pd.DataFrame(recon)) if recon
                           else schemas.empty("reconciliation")),
    }
    for name, parts in extra.items():
        tables[name] = pd.concat(parts, ignore_index=True)
    agreement = _feature(_AGREEMENT)
    if agreement is not None and letters is not None:
        tables["agreement"] = agreement.auto_vs_analyst(before_review)
    compare = _feature(_COMPARE)
    if compare is not None and rounds.updates():
        grades_map = _feature("grades_map")
        tables.update(compare.compare_all(tables, rounds, codebook, grades_map.map_path(paths.raw)))
    _check_reconciliation(tables["reconciliation"])
    errors = []
    for name, columns in all_columns().items():
        if name in tables:
            try:
                tables[name] = schemas.validate(name, tables[name], columns)
            except Exception as exc:  # pandera SchemaErrors: every failure listed at once
                errors.append(f"{name}: {exc}")
    if errors:
        raise RuntimeError("processed tables failed validation (a bug, not bad input):\n" + "\n".join(errors))
    return tables


def _concat(name: str, parts: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return schemas.empty(name)
    return pd.concat(parts, ignore_index=True).sort_values(order, ignore_index=True)


def _apply_review_rejections(findings: pd.DataFrame, suppress: list[dict]) -> tuple[pd.DataFrame, list[dict]]:
    """Analyst 'reject' decisions remove the matching auto draft; the draft goes to rejects."""
    if not suppress or findings.empty:
        return findings, []
    drop = pd.Series(False, index=findings.index)
    rejects = []
    for s in suppress:
        m = ((findings["coder"] == "auto") & (findings["round"] == s["round"])
             & (findings["force_id"] == s["force_id"]) & (findings["criterion_id"] == s["criterion_id"]))
        if s.get("finding_id"):
            m &= findings["finding_id"] == s["finding_id"]
        m = m.fillna(False)
        for rec in findings[m].to_dict("records"):
            rejects.append({"round": rec["round"], "file": rec["source_ref"].split(":", 1)[0],
                            "location": rec["source_ref"].split(":", 1)[-1],
                            "reason": f"draft code rejected in analyst review ({s['ref']})",
                            "raw": f"{rec['force_id']} {rec['criterion_id']}={rec['value']}"})
        drop |= m
    return findings[~drop].reset_index(drop=True), rejects


def _check_reconciliation(recon: pd.DataFrame) -> None:
    bad = recon[recon["records_read"] != recon["used"] + recon["rejected"]]
    if len(bad):
        lines = [f"{r.file}: read {r.records_read} != used {r.used} + rejected {r.rejected}" for r in bad.itertuples()]
        raise RuntimeError("reconciliation failed (records were lost):\n  " + "\n  ".join(lines))


def all_columns() -> dict[str, list[tuple[str, str, str]]]:
    """Data dictionary of every table the build can write (core + feature modules)."""
    cols = dict(schemas.COLUMNS)
    for name in (_LETTERS, _AGREEMENT, "coding", _COMPARE):
        mod = _feature(name)
        cols.update(getattr(mod, "TABLE_COLUMNS", {}) if mod else {})
    return cols


def write_tables(tables: dict[str, pd.DataFrame], dest: Path) -> None:
    """Write every table and the data dictionary into ``dest`` atomically (temp folder + swap)."""
    dest = Path(dest)
    cols = all_columns()
    dictionary = pd.DataFrame([{"table": t, "column": c, "dtype": d, "meaning": m}
                               for t in sorted(tables) if t in cols for c, d, m in cols[t]])
    with staged_dir(dest) as tmp:
        for name in sorted(tables):
            write_table(tables[name], tmp, name)
        write_table(dictionary.astype("string"), tmp, "data_dictionary")


class staged_dir:
    """Context manager: yields a fresh temp folder beside ``dest``; on success swaps it in place of
    ``dest`` (the old one kept as ``.<name>.old`` until the swap is done); on error removes it and
    leaves ``dest`` untouched. A build killed mid-swap is repaired by the next run."""

    def __init__(self, dest: Path):
        self.dest = Path(dest)
        self.tmp = self.dest.parent / f".{self.dest.name}.tmp-{os.getpid()}"
        self.old = self.dest.parent / f".{self.dest.name}.old"

    def __enter__(self) -> Path:
        recover(self.dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        fsync_dir(self.tmp)
        if self.dest.exists():
            os.replace(self.dest, self.old)
        os.replace(self.tmp, self.dest)
        fsync_dir(self.dest.parent)
        shutil.rmtree(self.old, ignore_errors=True)
        return False


def recover(dest: Path) -> None:
    """Undo a swap interrupted between its two renames; clear stale temp folders."""
    dest = Path(dest)
    old = dest.parent / f".{dest.name}.old"
    if old.exists():
        if not dest.exists():
            os.replace(old, dest)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for stale in dest.parent.glob(f".{dest.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def build_reports(paths: Paths, tables: dict[str, pd.DataFrame], allow_embargoed: bool,
                  notebooks: bool, log: Callable[[str], None]) -> list[Path]:
    """Charts, the Excel workbook and executed notebooks, written to reports/ atomically."""
    out: list[Path] = []
    with staged_dir(paths.reports) as tmp:
        staged = Paths(raw=paths.raw, processed=paths.processed, reports=tmp, notebooks=paths.notebooks)
        for modname, func in (("charts", "export_all"), ("compare_charts", "export_all"),
                              ("tables", "write_workbook")):
            mod = _feature(modname)
            if mod is not None:
                log(f"  {modname}.{func}")
                out.extend(getattr(mod, func)(staged, tables, allow_embargoed=allow_embargoed) or [])
        nb = _feature("notebooks")
        if notebooks and nb is not None:
            log("  executing notebooks")
            out.extend(nb.run_notebooks(staged) or [])
    return [paths.reports / Path(p).relative_to(tmp) if str(p).startswith(str(tmp)) else Path(p) for p in out]


def build(paths: Paths | None = None, *, tables_only: bool = False, strict: bool = False,
          allow_embargoed: bool = False, notebooks: bool = True,
          log: Callable[[str], None] = print) -> BuildResult:
    start = time.perf_counter()
    paths = paths or Paths()
    log(f"[1/4] reading {paths.raw}")
    inputs = load_inputs(paths)
    log(f"[2/4] loading {len(inputs.rounds.ids)} round(s): {', '.join(inputs.rounds.ids)}")
    tables = build_tables(inputs, log=log)
    print_reconciliation(tables, log)
    if strict and len(tables["rejects"]):
        raise InputError(paths.raw, None, f"{len(tables['rejects'])} input record(s) rejected (--strict)",
                         "see data/processed/rejects.csv for each file, row/cell and reason")
    log(f"[3/4] writing {len(tables)} tables to {paths.processed}")
    write_tables(tables, paths.processed)
    reports: list[Path] = []
    if not tables_only:
        log(f"[4/4] reports to {paths.reports}")
        reports = build_reports(paths, tables, allow_embargoed, notebooks, log)
    else:
        log("[4/4] reports skipped (--tables-only)")
    secs = time.perf_counter() - start
    log(f"done in {secs:.1f}s")
    return BuildResult(tables, paths.processed, reports, secs)


def print_reconciliation(tables: dict[str, pd.DataFrame], log: Callable[[str], None]) -> None:
    recon = tables["reconciliation"]
    log("  reconciliation (records read = used + rejected):")
    for r in recon.itertuples():
        log(f"    {r.file}: {r.records_read} = {r.used} + {r.rejected}")
    rej = tables["rejects"]
    if len(rej):
        log(f"  {len(rej)} record(s) rejected; reasons (see rejects.csv):")
        for reason, n in rej["reason"].str.split(";").str[0].value_counts().head(10).items():
            log(f"    {n} x {reason}")
    m = tables["matrix"]
    for rnd, sub in m.groupby("round", sort=False):
        counts = sub["status"].value_counts()
        log(f"  matrix {rnd}: {counts.get('reported', 0)} reported, {counts.get('contested', 0)} contested, "
            f"{counts.get('not_reported', 0)} not reported ({sub['force_id'].nunique()} forces)")


def register(sub) -> None:
    from .cli import add_path_args, paths_from_args

    p = sub.add_parser("build", help="rebuild processed tables (and reports) from data/raw/")
    add_path_args(p)
    p.add_argument("--tables-only", action="store_true", help="skip charts, workbook and notebooks")
    p.add_argument("--no-notebooks", action="store_true", help="skip executing notebooks")
    p.add_argument("--strict", action="store_true", help="fail if any input record is rejected")
    p.add_argument("--allow-embargoed", action="store_true",
                   help="export charts/tables of rounds still under embargo (marked EMBARGOED)")

    def run(args) -> int:
        build(paths_from_args(args), tables_only=args.tables_only, strict=args.strict,
              allow_embargoed=args.allow_embargoed, notebooks=not args.no_notebooks,
              log=lambda s: print(s, flush=True))
        return 0

    p.set_defaults(func=run)
