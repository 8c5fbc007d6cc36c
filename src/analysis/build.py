"""``python -m analysis build``: rebuild every processed table (and the reports) from data/raw/.

Steps: read the codebook, forces and rounds registry; load each round's coded sheets, letters,
grades and measures; resolve the framework matrix and conflicts; validate every table (pandera,
lazy); check the reconciliation (records read = used + rejected, per file); write CSV + Parquet
and the data dictionary to a temporary folder and swap it in only when everything succeeded, so a
failed or killed build leaves the previous outputs untouched (a build killed between the two
renames of the swap is repaired by the next run). Then, unless ``--tables-only``, export charts,
the Excel workbook and the executed notebooks the same way.

Embargo: a round whose ``embargo_until`` (rounds.yaml) is still in the future stays in the
processed tables (data/processed is the team's working data), but without ``--allow-embargoed``
nothing of it is exported to reports/: its charts, its rows in the workbook and the comparisons
that involve it are left out, the notebooks are not executed (they read every processed table),
and the build prints a note naming the round and the date; the rest of the reports are built as
usual. With ``--allow-embargoed`` everything is exported, and what shows the round is marked
"EMBARGOED until ..." (chart, alt text, workbook cover and table titles).

Testing hook: ``CORE_BUSINESS_TEST_DELAY=<seconds>`` (or ``mid_swap:<seconds>``) makes the build
pause just before (or in the middle of) swapping a finished folder in, so the crash-safety tests
can kill it there. Unset, it does nothing.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from . import regex_store, schemas
from .codebook import Codebook, norm_token
from .coded import CodedLoader, FileResult, findings_frame
from .draft_cache import DraftCache
from .errors import InputError
from .facts import load_grades, load_measures
from .forces import ForceResolver
from .inventory import ROUND_PARTS, WHOLE_FILE, inputs_table, unread_files
from .io import fsync_dir, not_data, records, write_table
from .paths import Paths
from .resolve import resolve
from .rounds import Rounds

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
                  if p.is_file() and p.suffix.lower() in suffixes and not not_data(p))


def build_tables(inputs: Inputs, log: Callable[[str], None] = print,
                 cache: DraftCache | None = None, validate: bool = True) -> dict[str, pd.DataFrame]:
    """All processed tables, in memory, validated (unless ``validate`` is False: then the caller
    must call :func:`validate_tables`, as :func:`build` does while the files are written).
    ``cache``: drafted letters to reuse (see :mod:`analysis.draft_cache`); None drafts every
    letter afresh."""
    paths, codebook, resolver, rounds = inputs.paths, inputs.codebook, inputs.resolver, inputs.rounds
    loader = CodedLoader(codebook, resolver, paths.raw)
    findings, rejects, suppress, grades, measures, recon = [], [], [], [], [], []
    extra: dict[str, list[pd.DataFrame]] = {}
    letters = _feature(_LETTERS)

    # files under data/raw/ that no step below reads: listed as rejects, never passed over in silence
    unread = unread_files(paths.raw, {r.id: r.kind for r in rounds})
    rejects.extend(unread)
    for rnd in rounds:
        rdir = paths.round_dir(rnd.id)
        # only the sub-folders the round's kind lists (the others' files are in `unread`)
        part = {k: _files(rdir / k, suffixes) if k in rnd.kind else [] for k, suffixes in ROUND_PARTS.items()}
        empty = [k for k in rnd.kind if not part[k]]
        if empty:  # (a round registered before its data came: its cells are all not reported)
            log(f"  note: {rnd.id}: rounds.yaml lists {', '.join(empty)} but {rnd.id}/ has no such files")
        for path in part["coded"]:
            res: FileResult = loader.load_file(path, rnd.id, synthetic=rnd.synthetic)
            findings.extend(res.findings)
            rejects.extend(res.rejects)
            suppress.extend(res.suppress)
            recon.append({"round": rnd.id, "file": loader.rel(path), "table": "findings",
                          "records_read": res.records_read, "used": res.used, "rejected": len(res.rejects)})
            for sheet in res.skipped_sheets:
                log(f"  note: {loader.rel(path)}: sheet {sheet} skipped")
            for note in res.notes:
                log(f"  note: {loader.rel(path)}: {note}")
        letter_files = part["letters"]
        if letter_files:
            if letters is None:
                raise InputError(rdir / "letters", None, "letters found but the letters module is missing",
                                 "install the full package")
            key = out = None
            if cache is not None:
                key = cache.key(letter_files, rnd.id, [paths.codebook, paths.forces, paths.force_aliases])
                out = cache.get(key)
            if out is None:
                out = letters.draft_findings(rdir / "letters", rnd.id, codebook, resolver, paths.raw)
                if cache is not None:
                    cache.put(key, out)
            else:
                log(f"  {rnd.id}: {len(letter_files)} letter(s) unchanged since the last build: drafts reused")
            drafts = out["findings"].assign(synthetic=rnd.synthetic)
            findings.extend(records(drafts))
            for name in ("letters", "letter_findings", "draft_codes"):
                extra.setdefault(name, []).append(out[name])
            if len(out.get("rejects", [])):
                rejects.extend(records(out["rejects"]))
            parsed = out["letter_findings"]
            for src, n in parsed.groupby("source_file").size().items():
                recon.append({"round": rnd.id, "file": loader.rel(rdir / "letters" / Path(src).name),
                              "table": "letter_findings", "records_read": int(n), "used": int(n), "rejected": 0})
        for path in part["grades"]:
            g = load_grades(path, rnd.id, resolver, loader.rel(path))
            grades.append(g)
            recon.append({"round": rnd.id, "file": loader.rel(path), "table": "grades",
                          "records_read": len(g), "used": len(g), "rejected": 0})
        for path in part["measures"]:
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
        "rejects": (schemas.frame("rejects", rejects).sort_values(
            ["round", "file", "location", "reason"], ignore_index=True) if rejects else schemas.empty("rejects")),
        "reconciliation": schemas.frame("reconciliation", recon) if recon else schemas.empty("reconciliation"),
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
    tables["inputs"] = inputs_table(paths.raw, [r.id for r in rounds], unread, tables["reconciliation"])
    if validate:
        validate_tables(tables)
    return tables


def validate_tables(tables: dict[str, pd.DataFrame]) -> None:
    """Every table against its pandera schema; all failures reported at once (RuntimeError)."""
    errors = []
    for name, columns in all_columns().items():
        if name in tables:
            try:
                schemas.validate(name, tables[name], columns)
            except Exception as exc:  # pandera SchemaErrors: every failure listed at once
                errors.append(f"{name}: {exc}")
    if errors:
        raise RuntimeError("processed tables failed validation (a bug, not bad input):\n" + "\n".join(errors))


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
        if s.get("value"):  # (the draft the analyst saw: a changed letter may draft another value)
            m &= findings["value"] == norm_token(s["value"])
        m = m.fillna(False)
        if not m.any():  # a decision about a draft that is no longer there is not lost in silence
            file, _, location = s["ref"].partition(":")
            rejects.append({"round": s["round"], "file": file, "location": location,
                            "reason": "review decision 'reject' matches no draft code now (the letter or the "
                                      "coder changed since the review); review the finding again",
                            "raw": s.get("raw") or f"{s['force_id']} {s['criterion_id']}"})
            continue
        for rec in records(findings[m]):
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
    # (not "coding": it has no tables of its own, and a rebuild that reuses every draft need not
    # import it)
    for name in (_LETTERS, _AGREEMENT, _COMPARE):
        mod = _feature(name)
        cols.update(getattr(mod, "TABLE_COLUMNS", {}) if mod else {})
    return cols


def write_tables(tables: dict[str, pd.DataFrame], dest: Path, check: Callable[[], None] | None = None) -> None:
    """Write every table and the data dictionary into ``dest`` atomically (temp folder + swap).
    ``check`` (e.g. validation) runs while the files are written; if it raises, nothing is
    swapped in and ``dest`` stays as it was."""
    dest = Path(dest)
    cols = all_columns()
    dictionary = pd.DataFrame([{"table": t, "column": c, "dtype": d, "meaning": m}
                               for t in sorted(tables) if t in cols for c, d, m in cols[t]])
    jobs = {name: tables[name] for name in sorted(tables)}
    jobs["data_dictionary"] = dictionary.astype("string")
    with staged_dir(dest) as tmp:
        # Threads: Arrow's CSV kernels and the Parquet writer release the GIL, so the large tables
        # are written side by side. Each file's bytes do not depend on the order.
        largest_first = sorted(jobs, key=lambda n: -len(jobs[n]))
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            written = pool.map(lambda n: write_table(jobs[n], tmp, n), largest_first)
            if check is not None:
                check()
            list(written)
        # The folder is replaced whole, so its (tracked) README is written with the tables.
        (tmp / "README.md").write_text(PROCESSED_README, encoding="utf-8")


PROCESSED_README = """Everything in this folder is rebuilt by `make build` (or `python -m analysis build`) from
`data/raw/`. Do not edit by hand; `data_dictionary.csv` describes every column.
"""


# Written into every output folder the build swaps in: the build replaces such a folder whole, so
# it must never replace one it did not make (--out pointed at data/raw/ or at someone's documents).
OUTPUT_MARK = ".core-business-output"
# What older builds left in their folders, before the mark: a folder holding one of these is theirs.
_OWN_NAMES = {"data_dictionary.csv", "figures", "tables.xlsx"}


def _replaceable(dest: Path) -> None:
    """An InputError unless ``dest`` is absent, empty, or an output folder a build made."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise InputError(dest, None, "is a file, not a folder: the build writes a folder of outputs there",
                         "give --out / --reports a folder name")
    names = {e.name for e in dest.iterdir()}
    if not names or OUTPUT_MARK in names or names & _OWN_NAMES or names == {"README.md"}:
        return
    shown = ", ".join(repr(n) for n in sorted(names)[:3])
    raise InputError(dest, None, f"holds files the build did not write ({shown}...); each build replaces "
                     "its output folder whole, so they would be deleted",
                     "give --out / --reports a new or empty folder (or one an earlier build wrote)")


def check_output_folders(paths: Paths, reports: bool = True) -> None:
    """Before anything is read: the output folders are not the raw folder, inside it or around
    it, not one inside the other, and replaceable (see _replaceable). A build that replaced
    --out whole deleted data/raw/ when --out was data/raw/ or its parent."""
    raw = Path(os.path.abspath(paths.raw))
    outs = {"--out": Path(os.path.abspath(paths.processed))}
    if reports:
        outs["--reports"] = Path(os.path.abspath(paths.reports))
    for flag, out in outs.items():
        if out == raw or raw.is_relative_to(out) or out.is_relative_to(raw):
            raise InputError(out, None, f"{flag} is the raw data folder {paths.raw}, inside it or around it; "
                             "the build replaces its output folder whole", f"give {flag} a folder outside "
                             "the raw data (the defaults are data/processed and reports)")
    if reports and (outs["--out"].is_relative_to(outs["--reports"]) or outs["--reports"].is_relative_to(outs["--out"])):
        raise InputError(outs["--reports"], None, "--reports and --out are the same folder, or one is inside "
                         "the other: each is replaced whole by the build", "give them two separate folders")
    for out in outs.values():
        _replaceable(out)


class staged_dir:
    """Context manager: yields a fresh temp folder beside ``dest``; on success swaps it in place of
    ``dest`` (the old one kept as ``.<name>.old`` until the swap is done); on error removes it and
    leaves ``dest`` untouched. A build killed mid-swap is repaired by the next run. A ``dest``
    that the build did not make is never replaced (see _replaceable)."""

    def __init__(self, dest: Path):
        self.dest = Path(dest)
        self.tmp = self.dest.parent / f".{self.dest.name}.tmp-{os.getpid()}"
        self.old = self.dest.parent / f".{self.dest.name}.old"

    def __enter__(self) -> Path:
        recover(self.dest)
        _replaceable(self.dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        (self.tmp / OUTPUT_MARK).write_text("Made by core-business; each build replaces this folder whole.\n",
                                             encoding="utf-8")
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        try:
            fsync_dir(self.tmp)
            _test_delay("before_swap", self.dest)
        except BaseException:  # (Ctrl-C before the swap: the new folder goes, the old one stays)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        if self.dest.exists():
            os.replace(self.dest, self.old)
            _test_delay("mid_swap", self.dest)
        os.replace(self.tmp, self.dest)
        fsync_dir(self.dest.parent)
        shutil.rmtree(self.old, ignore_errors=True)
        return False


TEST_DELAY_ENV = "CORE_BUSINESS_TEST_DELAY"


def _test_delay(point: str, dest: Path) -> None:
    """Pause at ``point`` when the test hook asks for it (see the module docstring)."""
    spec = os.environ.get(TEST_DELAY_ENV)
    if not spec:
        return
    where, _, secs = spec.rpartition(":")
    if (where or "before_swap") != point:
        return
    print(f"test delay: {point} {dest.name} for {secs}s", flush=True)
    time.sleep(float(secs))


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


class output_lock:
    """One build at a time into an output folder: a lock file beside it (``.<name>-build.lock``,
    holding the process id) for the whole build. Two builds swapping one folder at once could
    crash one of them mid-swap; a second build now stops at once, naming the first. A lock left
    by a build that was killed is taken over."""

    def __init__(self, dest: Path):
        self.dest = Path(dest)
        self.path = self.dest.parent / f".{self.dest.name}-build.lock"

    def _holder(self) -> int:
        """The process id in the lock file (0 if none). A lock just made may not hold its id yet:
        read once more before taking it for one left behind."""
        for attempt in range(2):
            try:
                text = self.path.read_text(encoding="ascii").strip()
            except OSError:
                return 0
            if text.isdigit():
                return int(text)
            if attempt == 0:
                time.sleep(0.2)
        return 0

    def __enter__(self) -> "output_lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = self._holder()
                if pid and pid != os.getpid() and _alive(pid):
                    raise InputError(self.dest, None, f"another build (process {pid}) is writing to this folder",
                                     "wait for it to finish, then build again") from None
                self.path.unlink(missing_ok=True)  # (left by a build that was killed)
                continue
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(str(os.getpid()))
            return self
        raise InputError(self.path, None, "cannot take the build lock", "delete the lock file and build again")

    def __exit__(self, *exc) -> bool:
        self.path.unlink(missing_ok=True)
        return False


def embargoed_rounds(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Rounds still under embargo now: round id -> the embargo end, as printed on outputs."""
    from .style import format_embargo, marks_for

    out = {}
    for rid in tables["rounds"]["round"]:
        marks = marks_for(tables["rounds"], rid)
        if marks.embargoed:
            out[str(rid)] = format_embargo(marks.embargo_until)
    return out


def without_rounds(tables: dict[str, pd.DataFrame], drop: set[str]) -> dict[str, pd.DataFrame]:
    """The tables without any row that belongs to or refers to one of the ``drop`` rounds (every
    column whose name contains 'round': round, baseline_round, before_round ...)."""
    if not drop:
        return tables
    out = {}
    for name, df in tables.items():
        cols = [c for c in df.columns if "round" in str(c)]
        if not cols or df.empty:
            out[name] = df
            continue
        hit = pd.Series(False, index=df.index)
        for c in cols:
            hit |= df[c].isin(drop).fillna(False).astype(bool)
        kept = df[~hit].reset_index(drop=True)
        if name == "rounds" and "updates" in kept.columns:  # nor name it as the round updated
            kept = kept.assign(updates=kept["updates"].mask(kept["updates"].isin(drop).fillna(False).astype(bool)))
        out[name] = kept
    return out


JOBS_ENV = "CORE_BUSINESS_JOBS"
CHARTS_PER_TASK = 6  # report charts handed to a process at a time (a round has about 24)


def default_jobs() -> int:
    """Processes for the reports: ``CORE_BUSINESS_JOBS`` if set, else the CPU count, at most 4
    (each process holds the tables and matplotlib, a few hundred MB)."""
    env = os.environ.get(JOBS_ENV)
    if env and env.strip().isdigit():
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def report_tasks(tables: dict[str, pd.DataFrame], notebooks: bool, paths: Paths) -> list[tuple[str, dict]]:
    """The reports as independent pieces, in report order: report charts in groups of
    CHARTS_PER_TASK per round, the comparison charts, the workbook, then one task per notebook.
    Each piece writes its own files, so the pieces can run in any order or at once."""
    tasks: list[tuple[str, dict]] = []
    charts = _feature("charts")
    if charts is not None:
        from . import compare_forces as cf

        for rid in cf.coded_rounds(tables):
            keys = [k for k, _ in charts.chart_plan(tables, rid, paths.raw)]
            for i in range(0, len(keys), CHARTS_PER_TASK):
                tasks.append(("charts", {"rounds": [rid], "keys": keys[i:i + CHARTS_PER_TASK]}))
    compare_charts = _feature("compare_charts")
    if compare_charts is not None:
        names = [name for name, _, _ in compare_charts.chart_plan(tables)]
        for i in range(0, len(names), CHARTS_PER_TASK):
            tasks.append(("compare_charts", {"chart_keys": names[i:i + CHARTS_PER_TASK]}))
    if _feature("tables") is not None:
        tasks.append(("workbook", {}))
    nb = _feature("notebooks")
    if notebooks and nb is not None:
        for path in nb.notebook_paths(paths.notebooks):
            tasks.append(("notebook", {"notebook": str(path)}))
            # The criterion explorer is also kept run for mobile technology (F4), beside A2.
            if Path(path).stem == "03_criterion_explorer":
                tasks.append(("notebook", {"notebook": str(path), "parameters": {"criterion": "F4"},
                                           "suffix": "_F4"}))
    return tasks


def run_report_task(task: tuple[str, dict], paths: Paths, tables: dict[str, pd.DataFrame],
                    allow_embargoed: bool) -> list[Path]:
    """One piece of the reports (see :func:`report_tasks`), written under ``paths.reports``."""
    kind, kw = task
    if kind == "charts":
        return _feature("charts").export_all(paths, tables, allow_embargoed=allow_embargoed, **kw)
    if kind == "compare_charts":
        return _feature("compare_charts").export_all(paths, tables, allow_embargoed=allow_embargoed,
                                                     keys=kw.get("chart_keys")) or []
    if kind == "workbook":
        return _feature("tables").write_workbook(paths, tables, allow_embargoed=allow_embargoed)
    if kind == "notebook":
        return _feature("notebooks").run_notebooks(paths, notebooks=[kw["notebook"]],
                                                   parameters=kw.get("parameters"),
                                                   suffix=kw.get("suffix", "")) or []
    raise ValueError(f"unknown report task {kind!r}")


# Worker processes (see build_reports): each reads the processed tables once, from Parquet.
_WORKER: dict = {}


def _init_report_worker(paths: Paths, drop: tuple[str, ...]) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Ctrl-C reaches every process of the terminal: a worker stops at once and quietly (the
    # parent says what happened, and its staged folder is removed, see staged_dir)
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    from .io import load_tables

    _WORKER["paths"] = paths
    _WORKER["tables"] = without_rounds(load_tables(paths.processed), set(drop))


def _report_worker(task: tuple[str, dict], allow_embargoed: bool) -> list[str]:
    return [str(p) for p in run_report_task(task, _WORKER["paths"], _WORKER["tables"], allow_embargoed)]


def build_reports(paths: Paths, tables: dict[str, pd.DataFrame], allow_embargoed: bool,
                  notebooks: bool, log: Callable[[str], None], jobs: int | None = None) -> list[Path]:
    """Charts, the Excel workbook and executed notebooks, written to reports/ atomically. Rounds
    under embargo are left out unless ``allow_embargoed`` (see the module docstring).

    ``jobs`` > 1 (default :func:`default_jobs`) shares the pieces out between that many fresh
    processes (spawned, so it works the same on Windows and macOS); each reads the processed
    tables from ``paths.processed``, which the build has just written. ``jobs=1`` does it all in
    this process with the tables given. The files are the same either way (each chart is drawn
    on its own; nothing depends on the order)."""
    embargoed = {} if allow_embargoed else embargoed_rounds(tables)
    if embargoed:
        for rid, until in embargoed.items():
            log(f"  note: round {rid} is EMBARGOED until {until}: its charts and tables are not exported "
                "(pass --allow-embargoed to export them, marked EMBARGOED)")
        tables = without_rounds(tables, set(embargoed))
        if notebooks:
            log("  note: notebooks not executed while a round is under embargo (they read every "
                "processed table); pass --allow-embargoed to run them")
            notebooks = False
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    tasks = report_tasks(tables, notebooks, paths)
    results: list[list[Path]] = [[] for _ in tasks]
    with staged_dir(paths.reports) as tmp:
        staged = Paths(raw=paths.raw, processed=paths.processed, reports=tmp, notebooks=paths.notebooks)
        if jobs == 1 or len(tasks) < 2:
            for i, task in enumerate(tasks):
                log(f"  {task[0]} {_describe(task[1])}".rstrip())
                results[i] = list(run_report_task(task, staged, tables, allow_embargoed))
        else:
            results = _run_parallel(tasks, staged, tuple(sorted(embargoed)), allow_embargoed,
                                    min(jobs, len(tasks)), log)
        skipped = _not_drawn(tasks, results)
        if skipped:
            log(f"  {len(skipped)} report chart(s) not drawn, nothing to show (e.g. a criterion no force has "
                f"a finding on in the round): {', '.join(skipped)}")
        charts = _feature("charts")
        if charts is not None and staged.figures.is_dir():  # (written last: it lists what the pieces wrote)
            results.append([charts.write_figure_index(staged.figures, skipped)])
    out = [p for part in results for p in part]
    return [paths.reports / Path(p).relative_to(tmp) if str(p).startswith(str(tmp)) else Path(p) for p in out]


def _not_drawn(tasks, results) -> list[str]:
    """The report charts planned but not drawn (their draw gave nothing), by name."""
    out = []
    for (kind, kw), files in zip(tasks, results):
        if kind == "charts":
            drawn = _chart_names(files)
            out += [n for n in (f"{rid}_{key}" for rid in kw["rounds"] for key in kw["keys"]) if n not in drawn]
    return out


def _chart_names(files) -> set[str]:
    """The charts among files written ('x.png', 'x.svg', 'x.alt.txt' ... -> 'x')."""
    return {Path(p).name.split(".")[0] for p in files}


def _describe(kw: dict, files=None) -> str:
    """A report piece as the build log names it; given the ``files`` it wrote, a report-chart
    piece names only the charts drawn (see :func:`_not_drawn` for the others)."""
    if "chart_keys" in kw:
        return ", ".join(kw["chart_keys"])
    if "keys" in kw:
        keys = kw["keys"]
        if files is not None:
            drawn = _chart_names(files)
            keys = [k for k in keys if f"{kw['rounds'][0]}_{k}" in drawn]
        return f"{kw['rounds'][0]}: {', '.join(keys) or 'nothing to draw'}"
    if "notebook" not in kw:
        return ""
    nb = Path(kw["notebook"])  # the name it is written under (a parameterised run has a suffix)
    return nb.stem + kw.get("suffix", "") + nb.suffix


def _run_parallel(tasks, staged: Paths, drop: tuple[str, ...], allow_embargoed: bool, jobs: int,
                  log: Callable[[str], None]) -> list[list[Path]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    log(f"  {len(tasks)} report pieces on {jobs} processes")
    # The slowest pieces first (the comparison charts and notebooks), so none is left running alone.
    order = sorted(range(len(tasks)), key=lambda i: tasks[i][0] not in ("compare_charts", "notebook"))
    results: list[list[Path]] = [[] for _ in tasks]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_report_worker, initargs=(staged, drop)) as pool:
        futures = {i: pool.submit(_report_worker, tasks[i], allow_embargoed) for i in order}
        try:
            for i in order:
                results[i] = [Path(p) for p in futures[i].result()]
                log(f"  done: {tasks[i][0]} {_describe(tasks[i][1], results[i])}".rstrip())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def build(paths: Paths | None = None, *, tables_only: bool = False, strict: bool = False,
          allow_embargoed: bool = False, notebooks: bool = True,
          log: Callable[[str], None] = print, jobs: int | None = None, use_cache: bool = True) -> BuildResult:
    start = time.perf_counter()
    paths = paths or Paths()
    check_output_folders(paths, reports=not tables_only)
    with output_lock(paths.processed):
        return _build(paths, start, tables_only, strict, allow_embargoed, notebooks, log, jobs, use_cache)


def _build(paths: Paths, start: float, tables_only: bool, strict: bool, allow_embargoed: bool, notebooks: bool,
           log: Callable[[str], None], jobs: int | None, use_cache: bool) -> BuildResult:
    log(f"[1/4] reading {paths.raw}")
    inputs = load_inputs(paths)
    log(f"[2/4] loading {len(inputs.rounds.ids)} round(s): {', '.join(inputs.rounds.ids)}")
    cache = DraftCache(cache_dir(paths)) if use_cache else None
    # The coder's compiled patterns are kept beside the drafts. --no-cache still reads them (it
    # writes nothing): they are re.compile's own result (see regex_store) and cannot change a draft.
    with regex_store.opened(cache_dir(paths) / PATTERN_STORE, save=use_cache):
        tables = build_tables(inputs, log=log, cache=cache, validate=False)
    print_reconciliation(tables, log)
    if strict and len(tables["rejects"]):
        raise InputError(paths.raw, None, f"{len(tables['rejects'])} input record(s) rejected (--strict)",
                         "see data/processed/rejects.csv for each file, row/cell and reason")
    log(f"[3/4] writing {len(tables)} tables to {paths.processed}")
    write_tables(tables, paths.processed, check=lambda: validate_tables(tables))  # validated as written
    if cache is not None:
        cache.prune()
    reports: list[Path] = []
    if not tables_only:
        log(f"[4/4] reports to {paths.reports}")
        reports = build_reports(paths, tables, allow_embargoed, notebooks, log, jobs=jobs)
    else:
        log("[4/4] reports skipped (--tables-only)")
    secs = time.perf_counter() - start
    log(f"done in {secs:.1f}s")
    return BuildResult(tables, paths.processed, reports, secs)


PATTERN_STORE = "compiled-patterns.json"


def cache_dir(paths: Paths) -> Path:
    """Where drafted letters are kept between builds: beside the processed folder, hidden
    (``data/.processed-draft-cache`` by default; git-ignored; safe to delete). Not named like the
    build's temp folders (``.processed.tmp-*``, ``.processed.old``), which are cleared."""
    return paths.processed.parent / f".{paths.processed.name}-draft-cache"


def print_reconciliation(tables: dict[str, pd.DataFrame], log: Callable[[str], None]) -> None:
    recon = tables["reconciliation"]
    log("  reconciliation (records read = used + rejected):")
    for r in recon.itertuples():
        log(f"    {r.file}: {r.records_read} = {r.used} + {r.rejected}")
    rej = tables["rejects"]
    unread = rej["location"] == WHOLE_FILE  # (inventory.unread_files): each file named, with the fix
    if unread.any():
        log(f"  {int(unread.sum())} file(s) under data/raw/ not read (also in rejects.csv):")
        for r in rej[unread].head(20).itertuples():
            log(f"    {r.file}: {r.reason}")
        if unread.sum() > 20:
            log(f"    ... and {int(unread.sum()) - 20} more")
    rej = rej[~unread]
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
    p.add_argument("--jobs", type=int, default=None,
                   help=f"processes for charts, workbook and notebooks (default: ${JOBS_ENV} or the "
                        "CPU count, at most 4; 1 = all in this process)")

    p.add_argument("--no-cache", action="store_true",
                   help="draft every letter afresh instead of reusing the drafts of unchanged letters")

    def run(args) -> int:
        build(paths_from_args(args), tables_only=args.tables_only, strict=args.strict,
              allow_embargoed=args.allow_embargoed, notebooks=not args.no_notebooks,
              log=lambda s: print(s, flush=True), jobs=args.jobs, use_cache=not args.no_cache)
        return 0

    p.set_defaults(func=run)
