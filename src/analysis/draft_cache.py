"""A cache of drafted letters, so a rebuild does not parse and code letters that have not changed.

Analysts rebuild many times a day while the letters stay the same; parsing and draft-coding are
most of a tables-only build once there are letters. One entry holds what
:func:`analysis.letters.draft_findings` returned for one round folder, as Parquet files (typed,
never pickled), under a key made of everything the result depends on:

- the bytes of every letter in the folder and its name;
- the round id, the codebook, the force list and aliases (and the rules the coder reads);
- the source of every module of this package, so any change to the parser or coder (or to
  anything they call) starts afresh.

A key that is missing, or an entry that cannot be read, means the letters are drafted again.
Entries are written atomically (temp folder + rename) and the build keeps only the entries it
used (:meth:`DraftCache.prune`), so the cache does not grow. ``build --no-cache`` bypasses it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from functools import cache
from pathlib import Path

import pandas as pd

TABLES = ("letter_findings", "draft_codes", "findings", "rejects", "letters")
_PACKAGE = Path(__file__).resolve().parent


@cache
def code_fingerprint() -> str:
    """sha256 over this package's source and rule files (their paths and bytes)."""
    h = hashlib.sha256()
    for p in sorted(_PACKAGE.rglob("*")):
        if p.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in p.parts:
            h.update(p.relative_to(_PACKAGE).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


class DraftCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.used: set[str] = set()

    def key(self, letter_files: list[Path], round_id: str, inputs: list[Path]) -> str:
        h = hashlib.sha256(code_fingerprint().encode())
        h.update(round_id.encode())
        for p in inputs:  # codebook, forces, aliases
            h.update(Path(p).name.encode())
            h.update(Path(p).read_bytes() if Path(p).exists() else b"<missing>")
        for p in sorted(letter_files):
            h.update(p.name.encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
        return h.hexdigest()[:32]

    def get(self, key: str) -> dict[str, pd.DataFrame] | None:
        import pyarrow.parquet as pq

        folder = self.root / key
        try:
            # ParquetFile reads one file without pyarrow.dataset (what pd.read_parquet imports,
            # ~10 ms a build); the pandas metadata in the file gives back the same dtypes.
            out = {name: pq.ParquetFile(folder / f"{name}.parquet").read().to_pandas() for name in TABLES}
        except Exception:  # missing or damaged entry: draft again (it is overwritten below)
            return None
        self.used.add(key)
        return out

    def put(self, key: str, tables: dict[str, pd.DataFrame]) -> None:
        tmp = self.root / f".{key}.tmp-{os.getpid()}"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for name in TABLES:
                tables[name].to_parquet(tmp / f"{name}.parquet", index=False, engine="pyarrow")
            shutil.rmtree(self.root / key, ignore_errors=True)
            os.replace(tmp, self.root / key)
            self.used.add(key)
        except OSError:  # a read-only or full disk only costs speed
            shutil.rmtree(tmp, ignore_errors=True)

    def prune(self) -> None:
        """Remove entries this build did not use (old versions of letters, rules or code)."""
        if not self.root.is_dir():
            return
        for p in self.root.iterdir():
            if p.is_dir() and p.name not in self.used:
                shutil.rmtree(p, ignore_errors=True)
