"""The registry of rounds (``data/raw/rounds.yaml``): which evidence exists and how rounds relate."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import safeyaml
from .errors import InputError

KINDS = ("coded", "letters", "grades", "measures")
SYNTHETIC_PREFIX = "synthetic_"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def valid_round_id(text: str) -> bool:
    """A round id as rounds.yaml takes it: lower_snake_case (it names a folder and goes into ids)."""
    return bool(_ID.match(text))
LABEL_MAX = 30  # a round's label names it in chart titles and axis labels


@dataclass(frozen=True)
class Round:
    id: str
    title: str
    published: dt.date | None
    kind: tuple[str, ...]
    updates: str | None = None
    embargo_until: dt.datetime | None = None
    notes: str = ""
    synthetic: bool = False
    coverage: str = "partial"   # "full": the round read every force's evidence in full
    order: int = 0
    label: str = ""             # short name for charts and tables (rounds.yaml 'label'; the id if none)
    extra: dict = field(default_factory=dict, compare=False)

    def embargoed(self, now: dt.datetime | None = None) -> bool:
        if self.embargo_until is None:
            return False
        now = now or dt.datetime.now()
        return now < self.embargo_until


def _shown(value) -> str:
    """A value for an error message, shortened; a list or mapping of more than a few plain values
    by its kind only (its text could be huge)."""
    plain = isinstance(value, list) and len(value) <= 10 and all(isinstance(v, (str, int, float)) for v in value)
    if isinstance(value, (list, dict)) and not plain:
        return f"(a {'list' if isinstance(value, list) else 'mapping'})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_text(value, path, where, field_name) -> str | None:
    """A text field: a string, or a number or date YAML read as one (title: 2014); a list or
    mapping is refused rather than written out as Python's text of it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, dt.date)):
        return str(value)
    raise InputError(path, where, f"{field_name} {_shown(value)} is not text",
                     f"write {field_name} as one line of text (in quotes if it starts with [, {{, & or *)")


def _as_date(value, path, where, field_name) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise InputError(path, where, f"{field_name} {_shown(value)} is not a date", "write it as YYYY-MM-DD") from exc


def _as_datetime(value, path, where) -> dt.datetime | None:
    """An embargo time as this machine's local time (naive, as ``Round.embargoed`` compares it).
    A time with an offset ('09:30+00:00') is converted, not cut: dropping the offset would lift
    an embargo early (or late) by the difference between the zones."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _local(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        return _local(dt.datetime.fromisoformat(str(value).strip()))
    except ValueError as exc:
        raise InputError(path, where, f"embargo_until {_shown(value)} is not a date/time",
                         "write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM") from exc


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone().replace(tzinfo=None) if value.tzinfo is not None else value


class Rounds:
    """Ordered rounds, validated as a whole."""

    def __init__(self, rounds: list[Round], source: str = "<rounds>"):
        self.rounds = {r.id: r for r in rounds}
        self.source = source

    def __iter__(self):
        return iter(self.rounds.values())

    def __getitem__(self, rid: str) -> Round:
        if rid not in self.rounds:
            raise InputError(self.source, None, f"unknown round {rid!r}",
                             f"use one of {list(self.rounds)} or register it in rounds.yaml")
        return self.rounds[rid]

    def __contains__(self, rid: str) -> bool:
        return rid in self.rounds

    @property
    def ids(self) -> list[str]:
        return list(self.rounds)

    def with_kind(self, kind: str) -> list[Round]:
        return [r for r in self if kind in r.kind]

    def updates(self) -> list[Round]:
        return [r for r in self if r.updates]

    @classmethod
    def load(cls, path: str | Path) -> "Rounds":
        path = Path(path)
        if not path.exists():
            raise InputError(path, None, "rounds registry not found",
                             "create data/raw/rounds.yaml with one entry per round")
        text = safeyaml.read_text(path)
        try:
            doc = safeyaml.safe_load(text)  # nothing from input is executed
        except safeyaml.YAMLError as exc:
            raise safeyaml.input_error(path, exc, "fix the YAML syntax (indentation, colons, quotes)") from exc
        return cls.from_dict(doc, source=str(path), text=text)

    @classmethod
    def from_dict(cls, doc, source: str = "<rounds>", text: str = "") -> "Rounds":
        if not isinstance(doc, dict) or not isinstance(doc.get("rounds"), list) or not doc["rounds"]:
            raise InputError(source, None, "expected a top-level 'rounds:' list",
                             "see the comment block at the top of rounds.yaml")
        lines = text.splitlines()

        entry_lines = [n for n, line in enumerate(lines, start=1) if re.match(r"^\s*-\s*id:", line)]

        def where(i: int, rid) -> str:
            if len(entry_lines) == len(doc["rounds"]):
                return f"line {entry_lines[i - 1]} (round {rid})"
            return f"entry {i} (round {rid})"

        out: list[Round] = []
        seen: dict[str, str] = {}
        labels: dict[str, str] = {}
        for i, e in enumerate(doc["rounds"], start=1):
            if not isinstance(e, dict):
                raise InputError(source, f"entry {i}", "round entry is not a mapping", "use 'id: ...' etc.")
            rid = e.get("id")
            w = where(i, rid)
            if not rid or not valid_round_id(str(rid)):
                raise InputError(source, w, f"round id {rid!r} is missing or not lower_snake_case",
                                 "use letters, digits and underscores, e.g. peel_2017")
            if rid in seen:
                raise InputError(source, w, f"round id {rid!r} is used twice (also {seen[rid]})",
                                 "give each round its own id")
            seen[rid] = w
            unknown = set(e) - {"id", "title", "label", "published", "embargo_until", "kind", "updates", "notes",
                                "synthetic", "coverage"}
            if unknown:
                raise InputError(source, w, f"unknown field(s) {sorted(unknown)}",
                                 "use id, title, label, published, embargo_until, kind, updates, coverage, notes")
            label = e.get("label")
            if isinstance(label, int) and not isinstance(label, bool):
                label = str(label)  # label: 2017
            if label is None or (isinstance(label, str) and not label.strip()):
                label = str(rid)
            elif not isinstance(label, str) or len(label.strip()) > LABEL_MAX:
                raise InputError(source, w, f"label {_shown(label)} is not a short text",
                                 f"give a name of at most {LABEL_MAX} characters in quotes, e.g. \"PEEL 2017\"")
            label = " ".join(label.split())
            if label in labels:
                raise InputError(source, w, f"label {label!r} is used twice (also {labels[label]})",
                                 "give each round its own label: charts name rounds by it")
            labels[label] = w
            coverage = _as_text(e.get("coverage"), source, w, "coverage") or "partial"
            if coverage not in ("partial", "full"):
                raise InputError(source, w, f"coverage {coverage!r} is not 'partial' or 'full'",
                                 "say 'full' only if the round read every force's evidence in full")
            kind = e.get("kind") or []
            kind = kind if isinstance(kind, list) else [kind]  # (kind: coded)
            bad = [k for k in kind if k not in KINDS]
            if bad or not kind:
                raise InputError(source, w, f"kind {_shown(kind)} is not a list drawn from {list(KINDS)}",
                                 "say what the round's folder holds")
            flag = e.get("synthetic", False)
            if not isinstance(flag, bool):  # ('synthetic: "no"' would be true as Python reads it)
                raise InputError(source, w, f"synthetic {_shown(flag)} is not true or false",
                                 "write synthetic: true (or leave the field out), without quotes")
            synthetic = flag or str(rid).startswith(SYNTHETIC_PREFIX)
            out.append(Round(
                id=str(rid), title=_as_text(e.get("title"), source, w, "title") or str(rid),
                published=_as_date(e.get("published"), source, w, "published"),
                kind=tuple(kind), updates=_as_text(e.get("updates"), source, w, "updates") or None,
                embargo_until=_as_datetime(e.get("embargo_until"), source, w),
                notes=(_as_text(e.get("notes"), source, w, "notes") or "").strip(), synthetic=synthetic,
                coverage=coverage, order=i,
                label=label,
            ))
        ids = {r.id for r in out}
        for i, r in enumerate(out, start=1):
            if r.updates is not None and r.updates not in ids:
                raise InputError(source, where(i, r.id), f"updates unknown round {r.updates!r}",
                                 f"point 'updates' at one of {sorted(ids)}")
            if r.updates == r.id:
                raise InputError(source, where(i, r.id), "a round cannot update itself", "fix 'updates'")
            base = next((b for b in out if b.id == r.updates), None)
            if base is not None and base.published and r.published and r.published < base.published:
                # (the comparison would run backwards in time: 'newly reported' meaning dropped)
                raise InputError(source, where(i, r.id), f"updates {base.id!r}, published later "
                                 f"({base.published.isoformat()}) than this round ({r.published.isoformat()})",
                                 "point 'updates' at an earlier round, or correct a 'published' date")
        return cls(out, source)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "round": r.id, "title": r.title, "label": r.label,
            "published": r.published.isoformat() if r.published else None,
            "embargo_until": r.embargo_until.isoformat() if r.embargo_until else None,
            "kind": "|".join(r.kind), "updates": r.updates, "coverage": r.coverage, "synthetic": r.synthetic,
            "notes": r.notes, "order": r.order,
        } for r in self]).astype({"published": "string", "embargo_until": "string", "updates": "string"})


def round_labels(tables: dict) -> dict[str, str]:
    """Round id -> its label for readers ('PEEL 2014'; rounds.yaml ``label``), from the processed
    ``rounds`` table. Charts and workbook titles name rounds by these; an id missing here (or
    tables written before labels existed) is shown as itself."""
    r = tables.get("rounds")
    if r is None or r.empty or "label" not in r.columns:
        return {}
    return {k: v for k, v in zip(r["round"], r["label"]) if isinstance(v, str) and v}
