"""Speed, scale and coder-quality figures for core-business. Prints a table; nothing passes or fails.

    python benchmarks/run.py                  # everything, medians of 3 runs (about 15-25 minutes)
    python benchmarks/run.py --quick          # one run of each
    python benchmarks/run.py --only build,charts --runs 5
    make benchmark

Sections (``--only`` takes a comma list of these names):
  imports    the import floor: a fresh ``python -c "import analysis, <heavy dependencies>"``. The
             dependencies are those the tables-only build really imports (checked each run with
             ``-X importtime``; any other heavy import the build makes is named in a note).
  build      ``python -m analysis build`` on the shipped data/raw, tables only (a first build on a
             fresh clone, nothing cached; letters drafted afresh, ``--no-cache``, with the coder's
             compiled patterns kept from an earlier build; a rebuild reusing the drafts of
             unchanged letters) and full (charts + workbook, ``--no-notebooks``), each in a fresh
             process, as a multiple of the floor.
  instructions
             the floor and the three tables-only builds counted in CPU instructions
             (``valgrind --tool=callgrind``; skipped when valgrind is missing). One run each:
             the count hardly moves between runs, whatever else the machine is doing, so this
             ratio is the steady one to compare code changes by. It is not wall time: imports
             cost more time per instruction than the build's own work (page faults, cold caches)
             and the build writes files on several threads, so the wall ratio is usually lower.
  charts     every report chart of every coded round, drawn and exported (PNG 300 dpi + SVG + CSV
             + alt text) in one process: seconds per chart (median and slowest), then the
             comparison charts (compare_charts.export_all) per chart.
  notebooks  each notebook executed as the build does it (papermill + HTML), against a kernel
             that only imports the stack: the multiple per notebook.
  scale      SYNTHETIC data, 43 forces x 1, 10 and 100 rounds: tables-only build in a fresh
             process; wall time, findings per second, peak memory, growth between sizes.
  letters    100, 1,000 and 10,000 SYNTHETIC letters parsed (letters.parse_letters) and coded
             (coding.code_findings), in a fresh process per size; findings per second for texts
             as generated (they repeat, and the coder memoises) and with every text made unique.
  quality    benchmarks/coder_quality.py (precision, recall, macro-F1, kappa), when present.

Ratios are given where the machine's speed cancels out (a multiple of the import floor or of a
bare kernel); absolute seconds are for this machine only. Peak memory is the child process's
maximum resident set size (``os.wait4``; not available on Windows). Synthetic data are written
to a temporary folder, never to data/raw/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SECTIONS = ("imports", "build", "instructions", "charts", "notebooks", "scale", "letters", "quality")
# What the tables-only build imports that costs time (decided with -X importtime; re-checked by
# the imports section): our package, pandas (+ numpy), pyarrow's Parquet writer, pandera's pandas
# API (which pulls in pydantic, typeguard and hypothesis), PyYAML and rapidfuzz.
FLOOR_MODULES = ("analysis", "pandas", "pyarrow.parquet", "pandera.pandas", "yaml", "rapidfuzz")
ROUND_SIZES = (1, 10, 100)
LETTER_SIZES = (100, 1_000, 10_000)
# The tables-only builds measured (section_build, section_instructions): label, extra arguments,
# and whether the draft cache folder is removed first (else it is filled before the run).
# (label, extra build arguments, start with no build cache, may read the package's shipped
# compiled patterns). The last case is what a fresh clone costs on a Python the package ships no
# compiled patterns for (analysis/compiled/): every pattern compiled, every rule fact derived.
BUILD_CASES = (("first build on a fresh clone (no build cache; the package's compiled patterns)", ["--no-cache"], True, True),
               ("new letters (drafted; compiled patterns kept)", ["--no-cache"], False, True),
               ("rebuild (letter drafts reused)", [], False, True),
               ("first build, nothing compiled (a Python without shipped patterns)", ["--no-cache"], True, False))
TARGETS = {"tables_ratio": 1.5, "chart_s": 0.2, "notebook_ratio": 1.5, "rounds_100_s": 10.0,
           "rss_mb": 1024.0, "coding_per_s": 20_000}


# ----- running things --------------------------------------------------------------------------
def build_command(base: list[str], shipped: bool, tmp: Path) -> list[str]:
    """``base`` ([PY, "-m", "analysis", ...]) as run, or, with ``shipped`` False, run with the
    package's shipped pattern folder pointed at an empty one (what another Python gets)."""
    if shipped:
        return base
    code = ("import runpy, sys; from pathlib import Path; from analysis import regex_store; "
            "regex_store.SHIPPED_DIR = Path(sys.argv.pop(1)); "
            "runpy.run_module('analysis', run_name='__main__', alter_sys=True)")
    return [PY, "-c", code, str(tmp / "no-shipped-patterns")] + base[3:]


def run_child(args: list[str], env: dict | None = None, capture: bool = False) -> dict:
    """Run a command from the project root; wall seconds, peak RSS (MB) and exit code (and stdout
    when ``capture``). Peak RSS is the child's own, through os.wait4."""
    full_env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", **(env or {})}
    # Bytecode is cached as on an analyst's machine: a sandbox that sets PYTHONDONTWRITEBYTECODE
    # would otherwise recompile the package's modules in every child (about 0.15 s a build).
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.PIPE, text=True)
    if hasattr(os, "wait4") and not capture:
        stderr = proc.stderr.read()  # (small: the build logs to stdout, which goes nowhere)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
        stdout = ""
        rss = usage.ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)
        cpu = usage.ru_utime + usage.ru_stime  # the child and the processes it waited for
    else:
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - t0
        rss = cpu = None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {"wall": wall, "rss_mb": rss, "cpu": cpu, "stdout": stdout, "stderr": stderr}


def run_json(kind: str, payload: dict) -> dict:
    """Run this script in child mode (a fresh process); its result is the last stdout line (JSON),
    plus the child's wall time and peak memory."""
    args = [PY, str(Path(__file__).resolve()), "--child", kind, json.dumps(payload)]
    if hasattr(os, "wait4"):
        with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as fh:
            result_path = fh.name
        try:
            res = run_child(args + ["--result", result_path])
            data = json.loads(Path(result_path).read_text(encoding="utf-8"))
        finally:
            Path(result_path).unlink(missing_ok=True)
    else:
        res = run_child(args, capture=True)
        data = json.loads(res["stdout"].strip().splitlines()[-1])
    return {**data, "child_wall": res["wall"], "child_rss_mb": res["rss_mb"]}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Table:
    """The rows printed at the end: section, measure, value, unit, comparison, target, note."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, section, measure, value, unit="s", vs="", target="", note=""):
        self.rows.append(dict(section=section, measure=measure, value=value, unit=unit, vs=vs,
                              target=target, note=note))
        print(f"  {measure}: {fmt(value)} {unit} {vs} {note}".rstrip(), file=sys.stderr, flush=True)

    def render(self) -> str:
        head = ("section", "measure", "median", "unit", "vs", "target", "note")
        body = [(r["section"], r["measure"], fmt(r["value"]), r["unit"], r["vs"], r["target"], r["note"])
                for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(head), sep, *map(line, body)])


def fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if v < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a is not None and b else ""


# ----- machine -------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    versions = {}
    for mod in ("pandas", "pyarrow", "pandera", "matplotlib", "openpyxl"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional library is just not listed
            pass
    return {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(),
            "ram": ram or "unknown", "os": platform.platform(), "python": platform.python_version(),
            **versions}


# ----- sections ------------------------------------------------------------------------------------
def section_imports(t: Table, runs: int, tmp: Path, state: dict) -> None:
    cmd = [PY, "-c", "import " + ", ".join(FLOOR_MODULES)]
    walls = [run_child(cmd)["wall"] for _ in range(runs)]
    state["floor"] = median(walls)
    t.add("imports", "import floor (fresh process)", state["floor"], note="python -c 'import " +
          ", ".join(FLOOR_MODULES) + "'")
    extra = extra_imports(tmp)
    if extra:
        t.add("imports", "heavy imports outside the floor", ", ".join(f"{m} {ms:.0f} ms" for m, ms in extra),
              unit="", note="imported by the tables-only build but not by the floor")


def _top_imports(stderr: str) -> dict[str, float]:
    """Self time (ms) per top-level package from ``-X importtime`` output."""
    out: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line.split("|")
        name = parts[2].strip().split(".")[0]
        out[name] = out.get(name, 0.0) + int(parts[0].split(":")[1]) / 1000
    return out


def extra_imports(tmp: Path, threshold_ms: float = 25.0) -> list[tuple[str, float]]:
    build = run_child([PY, "-X", "importtime", "-m", "analysis", "build", "--tables-only",
                       "--out", str(tmp / "imp_p"), "--reports", str(tmp / "imp_r")], capture=True)
    floor = run_child([PY, "-X", "importtime", "-c", "import " + ", ".join(FLOOR_MODULES)], capture=True)
    b, f = _top_imports(build["stderr"]), _top_imports(floor["stderr"])
    return sorted(((m, ms) for m, ms in b.items() if m not in f and ms >= threshold_ms), key=lambda x: -x[1])


def section_build(t: Table, runs: int, tmp: Path, state: dict) -> None:
    floor = state.get("floor")
    base = [PY, "-m", "analysis", "build", "--out", str(tmp / "b_p"), "--reports", str(tmp / "b_r")]
    cache = tmp / ".b_p-draft-cache"  # analysis.build.cache_dir for --out tmp/b_p
    # Three tables-only builds: (1) on a fresh clone, nothing cached; (2) letters drafted afresh
    # (--no-cache) with the coder's compiled patterns kept from an earlier build, as when new or
    # changed letters arrive; (3) a rebuild with the letters unchanged (drafts reused), as when an
    # analyst rebuilds during the day.
    # Each build run is paired with a floor run just before it, and the ratio taken per pair: this
    # machine's speed drifts by 20-40% over minutes, which skewed ratios of separate medians.
    # The note also gives the build's median over the median of every floor run of the section (all
    # cases), which a single slow or quick floor run moves less (this machine also swings within
    # seconds).
    floor_cmd = [PY, "-c", "import " + ", ".join(FLOOR_MODULES)]
    cases, floors = [], []
    for label, extra, cold, shipped in BUILD_CASES:
        tab, pairs = [], []
        for _ in range(runs):
            if cold:
                shutil.rmtree(cache, ignore_errors=True)
            elif not cache.exists():
                run_child(base + ["--tables-only"])  # fills the cache
            f = run_child(floor_cmd)
            floors.append(f["wall"])
            tab.append(run_child(build_command(base, shipped, tmp) + ["--tables-only"] + extra))
            pairs.append((tab[-1]["wall"] / f["wall"], tab[-1]["cpu"] / f["cpu"] if f["cpu"] else None))
        cases.append((label, tab, pairs))
    for label, tab, pairs in cases:
        wall = median(r["wall"] for r in tab)
        cpu_ratio = median(c for _, c in pairs) if all(c is not None for _, c in pairs) else None
        t.add("build", "tables only, shipped data, " + label, wall, vs=f"{median(w for w, _ in pairs):.2f}x floor",
              target=f"<= {TARGETS['tables_ratio']}x floor",
              note=f"ratio to a floor run just before each build ({wall / median(floors):.2f}x the median of "
                   f"the section's {len(floors)} floor runs); CPU {fmt(median(r['cpu'] for r in tab))} s"
                   + (f" ({cpu_ratio:.2f}x the floor's CPU)" if cpu_ratio else "")
                   + f"; peak RSS {fmt(median(r['rss_mb'] for r in tab))} MB")
    full = [run_child(base + ["--no-notebooks"]) for _ in range(runs)]
    wall = median(r["wall"] for r in full)
    figures = tmp / "b_r" / "figures"
    n_charts = len(list(figures.rglob("*.svg")))
    t.add("build", "full (charts + workbook), shipped data", wall, vs=ratio(wall, floor) + " floor",
          note=f"{n_charts} charts; CPU {fmt(median(r['cpu'] for r in full))} s (all processes); "
               f"peak RSS {fmt(median(r['rss_mb'] for r in full))} MB (largest process)")
    state["processed"] = tmp / "b_p"


def _instructions(args: list[str], out: Path) -> int:
    """CPU instructions of one command, all its threads (callgrind's 'Collected' total)."""
    res = run_child(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + args)
    out.unlink(missing_ok=True)
    for line in res["stderr"].splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise RuntimeError("callgrind printed no instruction count:\n" + res["stderr"][-2000:])


def section_instructions(t: Table, runs: int, tmp: Path, state: dict) -> None:
    """The build cases of section_build, counted in instructions (one run each: see the docstring
    at the top). About 50 times slower than a plain run: 4-6 minutes in all."""
    if shutil.which("valgrind") is None:
        t.add("instructions", "skipped", None, unit="", note="valgrind not found")
        return
    base = [PY, "-m", "analysis", "build", "--tables-only", "--out", str(tmp / "i_p"), "--reports", str(tmp / "i_r")]
    cache = tmp / ".i_p-draft-cache"  # analysis.build.cache_dir for --out tmp/i_p
    out = tmp / "callgrind.out"
    floor = _instructions([PY, "-c", "import " + ", ".join(FLOOR_MODULES)], out)
    t.add("instructions", "import floor", floor / 1e9, unit="G instr")
    for label, extra, cold, shipped in BUILD_CASES:  # prepared as section_build prepares them
        if cold:
            shutil.rmtree(cache, ignore_errors=True)
        elif not cache.exists():
            run_child(base)  # keeps the compiled patterns (and the drafts, for the rebuild)
        n = _instructions(build_command(base, shipped, tmp) + extra, out)
        t.add("instructions", f"tables only, {label}", n / 1e9, unit="G instr", vs=ratio(n, floor) + " floor",
              target=f"<= {TARGETS['tables_ratio']}x floor (set for wall time)")


def section_charts(t: Table, runs: int, tmp: Path, state: dict) -> None:
    processed = _processed(tmp, state)
    res = [run_json("charts", {"processed": str(processed), "out": str(tmp / f"charts_{i}")}) for i in range(runs)]
    per = median(r["median_s"] for r in res)
    t.add("charts", f"report chart, drawn + exported ({res[0]['n']} charts)", per, unit="s/chart",
          vs=f"{per / TARGETS['chart_s']:.1f}x target", target=f"<= {TARGETS['chart_s']} s",
          note=f"export only {fmt(median(r['median_export_s'] for r in res))} s; CPU "
               f"{fmt(median(r['median_cpu_s'] for r in res))} s")
    slow = max(res, key=lambda r: r["max_s"])
    t.add("charts", "slowest report chart", median(r["max_s"] for r in res), unit="s", note=slow["max_name"])
    t.add("charts", "all report charts, one process", median(r["total_s"] for r in res), unit="s",
          note="includes the first chart's matplotlib start-up")
    if res[0].get("compare_n"):
        t.add("charts", f"comparison chart ({res[0]['compare_n']} charts), mean",
              median(r["compare_s"] / r["compare_n"] for r in res), unit="s/chart", target=f"<= {TARGETS['chart_s']} s",
              note="export_all's time over its charts (the mean; the change matrix and grade charts are the dear ones)")
        t.add("charts", "comparison chart, median", median(r["compare_median_s"] for r in res), unit="s/chart",
              target=f"<= {TARGETS['chart_s']} s", note="the middle chart's drawing + export, as for the report charts")


def section_notebooks(t: Table, runs: int, tmp: Path, state: dict) -> None:
    processed = _processed(tmp, state)
    res = [run_json("notebooks", {"processed": str(processed), "out": str(tmp / f"nb_{i}")}) for i in range(runs)]
    base = median(r["baseline_s"] for r in res)
    t.add("notebooks", "kernel start + import the stack", base, note="papermill, one import cell, HTML")
    for name in res[0]["notebooks"]:
        s = median(r["notebooks"][name] for r in res)
        t.add("notebooks", name, s, vs=ratio(s, base) + " kernel", target=f"<= {TARGETS['notebook_ratio']}x")


def section_scale(t: Table, runs: int, tmp: Path, state: dict, sizes=ROUND_SIZES) -> None:
    from analysis.synthetic import make_synthetic_raw
    import pyarrow.parquet as pq

    prev = None
    for n in sizes:
        t0 = time.perf_counter()
        paths = make_synthetic_raw(tmp / f"scale_{n}" / "raw", n_rounds=n, seed=0)
        gen = time.perf_counter() - t0
        cmd = [PY, "-m", "analysis", "build", "--tables-only", "--no-cache", "--raw", str(paths.raw),
               "--out", str(paths.processed), "--reports", str(paths.reports)]
        res = [run_child(cmd) for _ in range(runs)]
        wall, rss = median(r["wall"] for r in res), median(r["rss_mb"] for r in res)
        findings = pq.read_metadata(paths.processed / "findings.parquet").num_rows
        growth = ""
        if prev:
            growth = f"x{wall / prev[1]:.1f} time for x{n / prev[0]:.0f} rounds"
        target = f"<= {TARGETS['rounds_100_s']:.0f} s, <= 1 GB" if n == 100 else ""
        t.add("scale", f"{n} round(s) x 43 forces, tables only", wall, vs=growth, target=target,
              note=f"{findings:,} findings, {findings / wall:,.0f}/s; CPU {fmt(median(r['cpu'] for r in res))} s; "
                   f"peak RSS {fmt(rss)} MB; generating the data {gen:.1f} s")
        prev = (n, wall)


def section_letters(t: Table, runs: int, tmp: Path, state: dict, sizes=LETTER_SIZES) -> None:
    prev = None
    for n in sizes:
        res = [run_json("letters", {"n": n, "dir": str(tmp / f"letters_{n}_{i}")}) for i in range(runs)]
        parse, code, uniq = (median(r[k] for r in res) for k in ("parse_s", "code_s", "code_unique_s"))
        n_find = res[0]["findings"]
        rss = median(r["child_rss_mb"] for r in res)
        growth = f"x{(parse + code) / prev[1]:.1f} time for x{n / prev[0]:.0f} letters" if prev else ""
        t.add("letters", f"{n:,} letters: parse", parse, vs=growth,
              note=f"{n / parse:,.0f} letters/s, {n_find:,} findings; peak RSS {fmt(rss)} MB")
        t.add("letters", f"{n:,} letters: code (texts as generated)", n_find / code, unit="findings/s",
              target=f">= {TARGETS['coding_per_s']:,}", note=f"{code:.2f} s; synthetic texts repeat (memoised)")
        t.add("letters", f"{n:,} letters: code (every text unique)", n_find / uniq, unit="findings/s",
              target=f">= {TARGETS['coding_per_s']:,}", note=f"{uniq:.2f} s; rules load {res[0]['rules_s']:.2f} s")
        prev = (n, parse + code)


def section_quality(t: Table, runs: int, tmp: Path, state: dict) -> None:
    script = ROOT / "benchmarks" / "coder_quality.py"
    if not script.exists():
        t.add("quality", "coder quality", None, unit="", note="skipped: benchmarks/coder_quality.py not found")
        return
    out = run_child([PY, str(script)], capture=True)["stdout"]
    state["quality_text"] = out
    t.add("quality", "coder quality", "see below", unit="", note="benchmarks/coder_quality.py")


def _processed(tmp: Path, state: dict) -> Path:
    """A tables-only build of the shipped data (made once)."""
    if "processed" not in state:
        run_child([PY, "-m", "analysis", "build", "--tables-only", "--out", str(tmp / "b_p"),
                   "--reports", str(tmp / "b_r")])
        state["processed"] = tmp / "b_p"
    return state["processed"]


# ----- child processes -----------------------------------------------------------------------------
def child_charts(payload: dict) -> dict:
    from analysis import charts, compare_forces as cf
    from analysis.io import load_tables
    from analysis.paths import RAW, Paths

    tables = load_tables(payload["processed"])
    out = Path(payload["out"])
    walls, exports, cpus, names = [], [], [], []
    t_all = time.perf_counter()
    for rid in cf.coded_rounds(tables):
        gen = charts.report_charts(tables, rid, RAW)
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            chart = next(gen, None)
            if chart is None:
                break
            t1 = time.perf_counter()
            charts.export_chart(chart.figure, chart.data, chart.name, chart.alt_text, out / "figures")
            t2, c2 = time.perf_counter(), time.process_time()
            chart.figure.clear()
            walls.append(t2 - t0)
            exports.append(t2 - t1)
            cpus.append(c2 - c0)
            names.append(chart.name)
    total = time.perf_counter() - t_all
    res = {"n": len(walls), "median_s": median(walls), "median_export_s": median(exports),
           "median_cpu_s": median(cpus), "max_s": max(walls), "max_name": names[walls.index(max(walls))],
           "total_s": total}
    try:
        from analysis import compare_charts
    except ImportError:
        return res
    paths = Paths(raw=RAW, processed=payload["processed"], reports=out / "reports")
    # Each chart's share: from the end of the chart before (or the start) to the end of its own
    # export, i.e. its drawing and its export, as export_all runs them (timed by wrapping the
    # module's _export, which export_all calls once a chart; the last PNG's wait is in the total).
    ends, export = [], compare_charts._export

    def timed_export(*args, **kwargs):
        files = export(*args, **kwargs)
        ends.append(time.perf_counter())
        return files

    compare_charts._export = timed_export
    t0 = time.perf_counter()
    try:
        files = compare_charts.export_all(paths, tables, allow_embargoed=True)
    finally:
        compare_charts._export = export
    res.update(compare_s=time.perf_counter() - t0, compare_n=len([f for f in files if str(f).endswith(".svg")]),
               compare_median_s=median(b - a for a, b in zip([t0, *ends], ends)))
    return res


def child_notebooks(payload: dict) -> dict:
    import nbformat

    from analysis import notebooks as nbmod
    from analysis.paths import NOTEBOOKS, RAW, Paths

    out = Path(payload["out"])
    out.mkdir(parents=True, exist_ok=True)
    paths = Paths(raw=RAW, processed=payload["processed"], reports=out / "reports")
    bare = out / "00_kernel_and_imports.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import pandas, pyarrow.parquet, matplotlib.figure\n"
        "from analysis import charts, compare_forces, style\n"
        "from analysis.notebooks import setup")]
    nbformat.write(nb, bare)
    t0 = time.perf_counter()
    nbmod.run_notebook(bare, out / "executed")
    baseline = time.perf_counter() - t0
    params = {"processed": str(paths.processed), "reports": str(paths.reports), "raw": str(paths.raw)}
    params.update({f"{k}_dir": v for k, v in list(params.items())})
    times = {}
    for path in nbmod.notebook_paths(NOTEBOOKS):
        t0 = time.perf_counter()
        nbmod.run_notebook(path, out / "executed", params)
        times[path.stem] = time.perf_counter() - t0
    return {"baseline_s": baseline, "notebooks": times}


def make_letters(n: int, folder: Path) -> tuple[list[Path], str]:
    """``n`` SYNTHETIC letters: round folders of at most 43 (one letter per force per round)."""
    from analysis.codebook import Codebook
    from analysis.forces import load_forces
    from analysis.paths import RAW
    from analysis.synthetic import synthetic_findings, synthetic_letter_text

    codebook = Codebook.load(RAW / "codebook.yaml")
    forces = load_forces(RAW / "reference" / "forces.csv")
    names = forces.set_index("force_id")["force_name"]
    all_forces = frozenset(forces["force_id"])
    folders, made, k = [], 0, 0
    while made < n:
        rid = f"synthetic_bench_{k:04d}"
        fnd = synthetic_findings(forces, codebook, rid, seed=k, letter_forces=all_forces)
        d = folder / rid
        d.mkdir(parents=True, exist_ok=True)
        for fid, sub in fnd.groupby("force_id", sort=True):
            if made >= n:
                break
            first = sub.drop_duplicates(["finding_no", "criterion_id"])
            (d / f"{fid}_2014-09-04.txt").write_text(synthetic_letter_text(str(names[fid]), first), encoding="utf-8")
            made += 1
        folders.append(d)
        k += 1
    return folders, str(codebook.source)


def child_letters(payload: dict) -> dict:
    import pandas as pd

    from analysis.codebook import Codebook
    from analysis.coding import code_findings, load_rules
    from analysis.forces import ForceResolver
    from analysis.letters import parse_letters
    from analysis.paths import RAW

    folders, _ = make_letters(payload["n"], Path(payload["dir"]))
    codebook = Codebook.load(RAW / "codebook.yaml")
    resolver = ForceResolver.from_files(RAW / "reference" / "forces.csv", RAW / "reference" / "force_aliases.csv")
    t0 = time.perf_counter()
    found = pd.concat([parse_letters(d, d.name, resolver) for d in folders], ignore_index=True)
    parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_rules(codebook)
    rules = time.perf_counter() - t0
    items = found[["finding_id", "area", "text"]]
    t0 = time.perf_counter()
    code_findings(items, codebook)
    code = time.perf_counter() - t0
    unique = items.assign(text=[f"{x} (Ref {i}.)" for i, x in enumerate(items["text"])])
    t0 = time.perf_counter()
    code_findings(unique, codebook)
    code_unique = time.perf_counter() - t0
    return {"letters": payload["n"], "findings": len(found), "parse_s": parse, "rules_s": rules,
            "code_s": code, "code_unique_s": code_unique}


CHILDREN = {"charts": child_charts, "notebooks": child_notebooks, "letters": child_letters}


# ----- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (the median is printed; default 3)")
    ap.add_argument("--quick", action="store_true", help="one run of each figure")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--round-sizes", default=",".join(map(str, ROUND_SIZES)))
    ap.add_argument("--letter-sizes", default=",".join(map(str, LETTER_SIZES)))
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp folder)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        os.environ.setdefault("MPLBACKEND", "Agg")
        result = CHILDREN[args.child[0]](json.loads(args.child[1]))
        text = json.dumps(result)
        if args.result:
            args.result.write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0

    runs = 1 if args.quick else max(1, args.runs)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    facts = machine()
    print(f"core-business benchmarks, {facts['date']}, median of {runs} run(s)")
    print(f"machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram']} RAM; {facts['os']}")
    print("python " + facts["python"] + "; " + ", ".join(f"{k} {facts[k]}" for k in
                                                         ("pandas", "pyarrow", "pandera", "matplotlib", "openpyxl")
                                                         if k in facts))
    table, state = Table(), {}
    ctx = tempfile.TemporaryDirectory(prefix="core-business-bench-") if args.keep is None else None
    tmp = Path(ctx.name) if ctx else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for name in SECTIONS:
            if name not in wanted:
                continue
            print(f"[{name}]", file=sys.stderr, flush=True)
            func = globals()[f"section_{name}"]
            if name == "scale":
                func(table, runs, tmp, state, tuple(int(x) for x in args.round_sizes.split(",")))
            elif name == "letters":
                func(table, runs, tmp, state, tuple(int(x) for x in args.letter_sizes.split(",")))
            else:
                if name == "build" and "floor" not in state:
                    section_imports(table, runs, tmp, state)
                func(table, runs, tmp, state)
    finally:
        if ctx:
            ctx.cleanup()
    print()
    print(table.render())
    if state.get("quality_text"):
        print("\n" + state["quality_text"].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
