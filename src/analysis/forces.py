"""The 43 forces and the resolution of any common spelling of a force name to its ``force_id``.

Spellings come from three places, all data: the columns of ``reference/forces.csv`` (id, official
name, short name, ONS code) and the analyst-editable alias table ``reference/force_aliases.csv``
(abbreviations such as MPS, GMP, Hants). Names are compared after normalising case, '&', hyphens,
punctuation, the suffixes 'Police', 'Constabulary', 'Police Service' and a leading 'Heddlu'. A name
with a bracketed abbreviation or in two languages ('Gwent Police / Heddlu Gwent') resolves when
all its parts name the same force. A UK force outside the 43 (BTP, PSNI...) is refused as such.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from pathlib import Path

import pandas as pd
from rapidfuzz import fuzz, process

from .errors import InputError
from .sheets import read_reference_csv

FORCE_COLUMNS = ["force_id", "force_name", "short_name", "ons_code", "country", "hmi_2014",
                 "hmic_region_2014"]
_SUFFIXES = ("police service", "police force", "constabulary", "police", "force")


def normalise_force_name(name: object) -> str:
    """A force name reduced for matching: lower case, '&' as 'and', punctuation as spaces, no
    leading 'the'/'heddlu' or trailing 'police', 'constabulary'... ('' when nothing is left)."""
    return _normalised(name if type(name) is str else str(name))


@lru_cache(maxsize=8192)  # (the same few hundred names come back: forces, aliases, sheets' cells)
def _normalised(name: str) -> str:
    s = name.lower().replace("&", " and ")
    s = re.sub(r"[^a-z0-9]+", " ", s).strip()
    s = re.sub(r"^(the|heddlu) ", "", s)  # 'Heddlu Gwent': Welsh for 'Gwent Police'
    changed = True
    while changed:
        changed = False
        for suf in _SUFFIXES:
            if s.endswith(" " + suf):
                s = s[: -len(suf) - 1].strip()
                changed = True
    return re.sub(r"\s+", " ", s)


# Police forces of the UK that are not among the 43 territorial forces of England and Wales this
# inspection covered (normalised spellings). A row naming one is refused with that reason rather
# than with a look-alike of the 43 ('Police Service of Northern Ireland' is not 'City of London').
_OUTSIDE_THE_43 = {
    spelling: name
    for name, spellings in {
        "Police Service of Northern Ireland": ("police service of northern ireland", "psni"),
        "Police Scotland": ("police scotland",),
        "British Transport Police": ("british transport", "btp"),
        "Ministry of Defence Police": ("ministry of defence", "mod", "mdp"),
        "Civil Nuclear Constabulary": ("civil nuclear", "cnc"),
        "Isle of Man Constabulary": ("isle of man",),
        "States of Jersey Police": ("states of jersey", "jersey"),
        "Guernsey Police": ("guernsey", "bailiwick of guernsey"),
        "National Crime Agency": ("national crime agency", "nca"),
    }.items()
    for spelling in spellings
}
_BRACKETS = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")

SUGGEST_MIN, SUGGEST_MARGIN = 65, 10  # rapidfuzz WRatio scores (0-100), see ForceResolver.suggest


def outside_the_43(name: object) -> str | None:
    """The full name of the UK police force ``name`` spells if it is not one of the 43
    ('BTP' -> 'British Transport Police'), else None."""
    return _OUTSIDE_THE_43.get(normalise_force_name(name))


class UnknownForce(InputError):
    def __init__(self, name: str, suggestions: list[str], file=None, where=None):
        self.name = name
        self.suggestions = suggestions
        outside = outside_the_43(name)
        if outside:
            full = f" ({outside})" if normalise_force_name(outside) != normalise_force_name(name) else ""
            super().__init__(file, where, f"{name!r}{full} is not one of the 43 forces of England and Wales",
                             "this analysis covers those 43 only: remove the row, or keep it in a notes sheet")
            return
        hint = ("did you mean " + " or ".join(repr(s) for s in suggestions) + "?") if suggestions else ""
        super().__init__(file, where, f"unknown force {name!r}",
                         (hint + " " if hint else "") +
                         "use a name from data/raw/reference/forces.csv or add the spelling to "
                         "data/raw/reference/force_aliases.csv")


def load_forces(path: str | Path) -> pd.DataFrame:
    """The forces table (the 43 forces ship in data/raw/reference/), validated: unique ids, no blank
    names, no name shared by two forces. Blank region/HMI = unknown."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "forces table not found", "copy forces.csv into data/raw/reference/")
    df = read_reference_csv(path, "forces table", keep_default_na=False, na_values=[""])
    missing = [c for c in FORCE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, "header", f"missing column(s) {missing}", f"the header needs {FORCE_COLUMNS}")
    dup = df[df["force_id"].duplicated(keep=False)]
    if len(dup):
        rows = ", ".join(str(i + 2) for i in dup.index)
        raise InputError(path, f"rows {rows}", "duplicate force_id", "each force once")
    for col in ("force_id", "force_name", "short_name"):
        blank = df[df[col].isna()]
        if len(blank):
            raise InputError(path, f"row {blank.index[0] + 2}, column {col}", "blank", "fill it in")
    # Names are matched as normalised (case, punctuation, 'Police' suffix...): two forces whose
    # names match alike would leave one of them unreachable by that name, with no error.
    owner: dict[str, tuple[int, str]] = {}
    for i, rec in enumerate(df[["force_id", "force_name", "short_name", "ons_code"]].itertuples(index=False)):
        for col, name in zip(("force_id", "force_name", "short_name", "ons_code"), rec[:4]):
            if not isinstance(name, str) or not name:
                continue
            key = normalise_force_name(name)
            if not key:  # ('-' as a placeholder ons_code: names nothing, matches nothing)
                continue
            if key in owner and df["force_id"].iloc[owner[key][0]] != rec[0]:
                j, other = owner[key]
                raise InputError(path, f"row {i + 2}, column {col}", f"{name!r} matches row {j + 2}'s {other} "
                                 f"({df[other].iloc[j]!r}), another force's", "give each force its own names")
            owner.setdefault(key, (i, col))
    return df.sort_values("force_id", ignore_index=True)


def _official_names(forces: pd.DataFrame) -> dict[str, str]:
    """Normalised id, name, short name and ONS code of each force -> its force_id."""
    out: dict[str, str] = {}
    for row in forces.itertuples(index=False):
        for name in (row.force_id, row.force_name, row.short_name, row.ons_code):
            if isinstance(name, str) and (key := normalise_force_name(name)):
                out[key] = row.force_id
    return out


class ForceResolver:
    """Map a force name as written by anyone to ``force_id``."""

    def __init__(self, forces: pd.DataFrame, aliases: pd.DataFrame | None = None,
                 aliases_source: str | Path = "force_aliases.csv"):
        self.forces = forces
        self.aliases = aliases if aliases is not None else pd.DataFrame(columns=["alias", "force_id"])
        src = aliases_source
        missing = [c for c in ("alias", "force_id") if c not in self.aliases.columns]
        if missing:
            raise InputError(src, "header", f"missing column(s) {missing}", "the header needs alias,force_id")
        blank = self.aliases[self.aliases["alias"].isna() | self.aliases["force_id"].isna()]
        if len(blank):
            raise InputError(src, f"alias {blank.iloc[0]['alias']!r}", "a row with a blank alias or force_id",
                             "fill in both, or delete the row")
        unknown = set(self.aliases["force_id"]) - set(forces["force_id"])
        if unknown:
            raise InputError(src, None, f"aliases point at unknown force_id(s) {sorted(unknown)}",
                             "use ids from forces.csv")
        # An alias must not take a name from another force: 'Norfolk,suffolk' would send every
        # Norfolk row to Suffolk without a word. (The same alias twice for one force is harmless.)
        self._official = official = _official_names(forces)
        seen: dict[str, tuple[str, str]] = {}
        for alias, fid in zip(self.aliases["alias"], self.aliases["force_id"]):
            key = normalise_force_name(alias)
            if not key:
                raise InputError(src, f"alias {alias!r}", "is only punctuation or spaces, "
                                 "so it names nothing", "delete the row")
            other = official.get(key) or seen.get(key, (None, None))[0]
            if other is not None and other != fid:
                said = (f"names {other!r} in forces.csv" if key in official
                        else f"is already given to {other!r} as {seen[key][1]!r}")
                raise InputError(src, f"alias {alias!r}", f"points at {fid!r} but {said}",
                                 "delete the row, or correct its force_id")
            seen[key] = (fid, alias)

    @classmethod
    def from_files(cls, forces_csv: str | Path, aliases_csv: str | Path | None = None) -> "ForceResolver":
        forces = load_forces(forces_csv)
        aliases = None
        if aliases_csv is not None and Path(aliases_csv).exists():
            aliases = read_reference_csv(Path(aliases_csv), "force aliases table", comment="#")
        return cls(forces, aliases, aliases_csv or "force_aliases.csv")

    @cached_property
    def lookup(self) -> dict[str, str]:
        out = dict(self._official)
        for row in self.aliases.itertuples(index=False):
            out[normalise_force_name(row.alias)] = row.force_id
        return out

    def resolve(self, name: object, file=None, where=None) -> str:
        fid = self.try_resolve(name)
        if fid is not None:
            return fid
        raise UnknownForce(str(name), self.suggest(name), file=file, where=where)

    def try_resolve(self, name: object) -> str | None:
        """The force_id, or None. Besides the name as written: a name with a bracketed
        abbreviation ('Thames Valley Police (TVP)') and a bilingual name ('Gwent Police / Heddlu
        Gwent') resolve when every part names the same force."""
        if name is None or (isinstance(name, float) and pd.isna(name)):
            return None
        lookup = self.lookup
        key = normalise_force_name(name)
        if not key:  # ('-', '?': names no force, however a reference table spells its blanks)
            return None
        fid = lookup.get(key)
        if fid is not None or not isinstance(name, str) or not any(c in name for c in "([/|"):
            return fid
        parts = [_BRACKETS.sub(" ", name), *(a or b for a, b in _BRACKETS.findall(name))]
        parts = [q for p in parts for q in re.split(r"[/|]", p)]
        found = {lookup.get(normalise_force_name(p)) for p in parts if p.strip(" -,;")}
        return found.pop() if len(found) == 1 else None  # ({None} when a part names no force)

    def suggest(self, name: object, limit: int = 3) -> list[str]:
        """Closest official short names (rapidfuzz), best first: only names about as close as the
        closest (within SUGGEST_MARGIN) and close at all (SUGGEST_MIN), so 'Norfok' gets Norfolk
        alone, 'N Yorks' the three Yorkshires, and a stray formula no suggestion at all (WRatio
        gives 60 to almost any pairing with a short alias)."""
        choices = {k: v for k, v in self.lookup.items()}
        hits = process.extract(normalise_force_name(name), list(choices), scorer=fuzz.WRatio, limit=10)
        names = self.forces.set_index("force_id")["short_name"]
        floor = max(SUGGEST_MIN, hits[0][1] - SUGGEST_MARGIN) if hits else SUGGEST_MIN
        out: list[str] = []
        for key, score, _ in hits:
            short = names[choices[key]]
            if score >= floor and short not in out:
                out.append(short)
        return out[:limit]

    def short_name(self, force_id: str) -> str:
        return self.forces.set_index("force_id").loc[force_id, "short_name"]
