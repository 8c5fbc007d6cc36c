"""Every file under data/raw/ is read, or is the project's own set-up, or is listed as not read.

The build reads fixed places: ``codebook.yaml``, ``rounds.yaml``, named files in ``reference/``,
and in each round's folder the files of ``coded/``, ``letters/``, ``grades/`` and ``measures/``
with the suffixes each takes. Anything else would be passed over in silence: a round folder
without its rounds.yaml entry, grades saved as .xlsx, a letter dropped beside ``letters/`` instead
of in it. Each such file becomes a row of the rejects table (the file, 'whole file', why it was not
read and what to do), so the build log, ``rejects.csv`` and notebook 01 show it and ``--strict``
stops on it. Documentation (README files, Markdown), hidden files and Office lock files are not
data and are passed over.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from .compare_forces import NATIONAL_FIGURES_FILE
from .grades_map import DEFAULT_MAP
from .io import not_data
from .letters import LETTER_SUFFIXES
from .sheets import SPREADSHEET_SUFFIXES

WHOLE_FILE = "whole file"  # the location of a reject that is a file not read at all
# What the build reads in a round's folder (build.build_tables reads these, so the two agree)
ROUND_PARTS = {"coded": SPREADSHEET_SUFFIXES, "letters": LETTER_SUFFIXES, "grades": (".csv",),
               "measures": (".csv",)}
TOP_FILES = frozenset({"codebook.yaml", "rounds.yaml"})
REFERENCE_FILES = frozenset({"forces.csv", "force_aliases.csv", DEFAULT_MAP.name, NATIONAL_FIGURES_FILE.name})
_PARTS = ", ".join(f"{p}/" for p in ROUND_PARTS)


CODE_FILE = "src/analysis/ (the analysis code)"  # the inputs table's row for the code itself


def inputs_table(raw: Path, round_ids, unread: list[dict], reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Every data file under ``raw`` with its size and SHA-256, what the build did with it and
    (from ``reconciliation``) how many of its records were used, plus one row for the code: what
    a number in the outputs was built from, so it can be checked and defended later. ``unread``:
    :func:`unread_files`' records (those files are role 'not_read')."""
    from . import schemas
    from .draft_cache import code_fingerprint

    raw = Path(raw)
    not_read = {r["file"] for r in unread}
    rounds = set(round_ids)
    counts = {}
    if len(reconciliation):
        per_file = reconciliation.groupby("file")[["records_read", "used", "rejected"]].sum()
        counts = {f: {k: int(v) for k, v in row.items()} for f, row in per_file.iterrows()}
    rows = []
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        rel = path.relative_to(raw)
        if any(not_data(Path(part)) for part in rel.parts):
            continue
        name = rel.as_posix()
        try:
            with path.open("rb") as fh:  # (streamed: a stray large file is not read into memory)
                size, digest = path.stat().st_size, hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:  # unreadable: the step that needs it says so; here it is listed unhashed
            size = digest = None
        first = rel.parts[0]
        rid = (_as_named(raw / first, rounds) if len(rel.parts) > 1 else None)
        if name in not_read:
            role = "not_read"
        elif len(rel.parts) == 1:
            role = name.removesuffix(".yaml")   # codebook, rounds
        elif first == "reference":
            role = "reference"
        else:
            role = _as_named(raw / first / rel.parts[1], ROUND_PARTS) or "not_read"
        rows.append({"file": name, "round": rid, "role": role, "bytes": size, "sha256": digest,
                     **counts.get(name, {})})
    rows.append({"file": CODE_FILE, "role": "code", "sha256": code_fingerprint()})
    return schemas.frame("inputs", rows)


def unread_files(raw: Path, kinds: dict[str, tuple[str, ...]]) -> list[dict]:
    """Reject records (round, file, location, reason, raw) for the files under ``raw`` that the
    build does not read, in path order. ``kinds``: round id -> the sub-folders its rounds.yaml
    ``kind`` lists (the build reads only those)."""
    raw = Path(raw)
    rounds = set(kinds)
    out: list[dict] = []

    def note(path: Path, round_id: str | None, reason: str) -> None:
        out.append({"round": round_id, "file": path.relative_to(raw).as_posix(), "location": WHOLE_FILE,
                    "reason": f"not read: {reason}", "raw": f"{path.stat().st_size:,} bytes"})

    def each_file(folder: Path):
        return (p for p in sorted(folder.rglob("*")) if p.is_file() and not any(
            not_data(Path(part)) for part in p.relative_to(raw).parts))

    for entry in sorted(raw.iterdir()):
        if not_data(entry):
            continue
        if entry.is_file():
            if entry.name not in TOP_FILES:
                note(entry, None, "only codebook.yaml, rounds.yaml, reference/ and one folder per round are "
                                  "read from data/raw/; move the file into a round's folder "
                                  f"({_PARTS}) or out of data/raw/")
        elif entry.name == "reference":
            for path in each_file(entry):
                if path.parent != entry or path.name not in REFERENCE_FILES:
                    note(path, None, f"reference/ is read for {', '.join(sorted(REFERENCE_FILES))} only; "
                                     "move other files out of data/raw/")
        elif (rid := _as_named(entry, rounds)) is not None:
            _round_folder(entry, rid, kinds[rid], each_file, note)
        else:
            for path in each_file(entry):
                note(path, None, f"data/raw/{entry.name}/ is not a round in rounds.yaml; add an entry for it "
                                 "(docs/adding_a_round.md) or move the folder out of data/raw/")
    # A link to nothing (its file moved or deleted, or a link to itself) is no file to any step
    # above, so it would vanish without a word.
    for path in sorted(raw.rglob("*")):
        if path.is_symlink() and not path.exists() and not any(
                not_data(Path(part)) for part in path.relative_to(raw).parts):
            first = path.relative_to(raw).parts[0]
            out.append({"round": first if first in rounds and path.parent != raw else None,
                        "file": path.relative_to(raw).as_posix(), "location": WHOLE_FILE,
                        "reason": "not read: a link to a file that does not exist; copy the file itself "
                                  "here, or remove the link", "raw": "broken link"})
    return out


def _as_named(entry: Path, names) -> str | None:
    """The name in ``names`` that ``entry`` is, as the build would open it: its own name, or on
    a case-insensitive file system (Windows, macOS) the same folder spelt otherwise."""
    if entry.name in names:
        return entry.name
    for name in names:
        if name.lower() == entry.name.lower() and (entry.parent / name).exists() and \
                (entry.parent / name).samefile(entry):
            return name
    return None


def _round_folder(folder: Path, round_id: str, kind, each_file, note) -> None:
    parts = {sub.name: _as_named(sub, ROUND_PARTS) for sub in folder.iterdir() if sub.is_dir()}
    for path in each_file(folder):
        part = path.relative_to(folder).parts
        suffixes = ROUND_PARTS.get(parts.get(part[0]) or "") if len(part) > 1 else None
        if suffixes is None:
            where = "at the top of the round's folder" if len(part) == 1 else f"in {part[0]}/"
            note(path, round_id, f"files {where} are not read; a round's files go in {_PARTS}")
        elif parts[part[0]] not in kind:
            # read, its records would reach the findings but no matrix, chart or comparison
            note(path, round_id, f"the round's kind in rounds.yaml is [{', '.join(kind)}], without "
                                 f"{parts[part[0]]}; add {parts[part[0]]} to its kind, or move the file out")
        elif len(part) > 2:
            note(path, round_id, f"files in folders inside {part[0]}/ are not read; move it up into "
                                 f"{part[0]}/ or out of data/raw/")
        elif path.suffix.lower() not in suffixes:
            note(path, round_id, f"{part[0]}/ reads {', '.join(suffixes)} files; save it as one of those")
