"""Every path the project uses, in one place.

The project root is found from this file's own location (``src/analysis/paths.py`` -> two
levels up), never from the working directory, so notebooks, tests and the CLI agree. Each folder
can be overridden: pass another folder to :class:`Paths` (the CLI's ``--raw``/``--out`` do) or set
``CORE_BUSINESS_RAW`` / ``CORE_BUSINESS_PROCESSED`` / ``CORE_BUSINESS_REPORTS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
RAW = Path(os.environ.get("CORE_BUSINESS_RAW", DATA / "raw"))
PROCESSED = Path(os.environ.get("CORE_BUSINESS_PROCESSED", DATA / "processed"))
REPORTS = Path(os.environ.get("CORE_BUSINESS_REPORTS", ROOT / "reports"))
FIGURES = REPORTS / "figures"
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Paths:
    """The folders one build reads and writes. Defaults are the module constants above."""

    raw: Path = RAW
    processed: Path = PROCESSED
    reports: Path = REPORTS
    notebooks: Path = NOTEBOOKS
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("raw", "processed", "reports", "notebooks"):
            object.__setattr__(self, name, Path(getattr(self, name)).resolve())

    @property
    def codebook(self) -> Path:
        return self.raw / "codebook.yaml"

    @property
    def forces(self) -> Path:
        return self.raw / "reference" / "forces.csv"

    @property
    def force_aliases(self) -> Path:
        return self.raw / "reference" / "force_aliases.csv"

    @property
    def rounds(self) -> Path:
        return self.raw / "rounds.yaml"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    def round_dir(self, round_id: str) -> Path:
        return self.raw / round_id
