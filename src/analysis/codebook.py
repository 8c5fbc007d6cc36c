"""The coding frame: criteria, their allowed values and the value -> judgement map.

Loaded from ``data/raw/codebook.yaml`` (project copy of the agreed codebook). Also resolves the
many ways analysts write a criterion (``A2``, ``attend_all_crimes``, ``Attend-all-crimes policy``)
and a value (``yes``, ``Y``, ``✓``, ``TRUE``, ``Partial``, ``Some crime types``...).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from . import safeyaml
from .errors import InputError

JUDGEMENTS = ("positive", "partial", "negative")
# Derived states that are never typed in (see the codebook header).
NOT_REPORTED = "not_reported"
CONTESTED = "contested"
JUDGEMENT_STATES = (*JUDGEMENTS, NOT_REPORTED, CONTESTED)

# Spellings of a yes/no answer. Applied only when the criterion has a value called yes/no.
_YES = {"yes", "y", "true", "t", "1", "x", "✓", "✔", "☑", "✅"}
_NO = {"no", "n", "false", "f", "0", "✗", "✘", "☒", "❌"}
# Spellings of a judgement, used when the text is not a value name of the criterion.
_JUDGEMENT_WORDS = {
    "positive": "positive", "pos": "positive", "strength": "positive",
    "partial": "partial", "part": "partial", "partly": "partial", "mixed": "partial",
    "some": "partial", "developing": "partial",
    "negative": "negative", "neg": "negative", "weakness": "negative",
}
# Symbols, matched as typed (norm_token would read '+/-' as '+'). A lone dash is refused: in a
# spreadsheet it means "nothing" as often as "negative".
_JUDGEMENT_SYMBOLS = {"+": "positive", "+/-": "partial", "±": "partial", "~": "partial"}
_DASHES = {"-", "\u2013", "\u2014", "\u2212"}
# What analysts type for "nothing to code here" (norm_token'd). Not a value of any criterion:
# a blank cell is how a sheet says not coded, and the criterion then stays not_reported.
_PLACEHOLDERS = {"n_a", "na", "n.a.", "n.a", "nk", "n_k", "tbc", "tbd", "tba", "?", "??", "unknown",
                 "not_known", "not_reported", "not_stated", "not_assessed", "not_applicable",
                 "not_coded", "pending", "blank", "null", "nan"}

# Excel's error values, which a sheet pasted as values keeps as text
_EXCEL_ERRORS = {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!", "#CALC!",
                 "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"}


def _judgement_word(text: str) -> str | None:
    """The judgement a word or symbol stands for ('Partly', '+/-'), or None."""
    return _JUDGEMENT_SYMBOLS.get(text.strip()) or _JUDGEMENT_WORDS.get(norm_token(text))


def norm_token(text: object) -> str:
    """Lower-case, trim, and turn spaces/hyphens/slashes into underscores: 'Some crime types ' ->
    'some_crime_types'."""
    s = str(text).strip().lower()
    s = re.sub(r"[\s\-/]+", "_", s)
    return s.strip("_")


def _norm_label(text: object) -> str:
    s = str(text)
    if not s.isascii():  # fullwidth 'Ｐ2' is P2; a zero-width space or soft hyphen is nothing
        s = "".join(ch for ch in unicodedata.normalize("NFKC", s) if unicodedata.category(ch) != "Cf")
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


# A header naming a criterion by id, written with a gap or a stop ('P 2', 'P.2', 'p-2') or after
# the word 'criterion' ('Criterion P2'), as _norm_label leaves it; the label may follow.
_ID_HEADER = re.compile(r"(?:criterion )?([paf]) ?(\d{1,2})(?: (.*))?")


@dataclass(frozen=True)
class Criterion:
    id: str
    key: str
    area: str
    label: str
    question: str
    values: dict  # value name -> judgement, in codebook order

    @property
    def framed(self) -> bool:
        """P0/A0/F0 hold findings outside the frame: kept, but not compared across forces."""
        return not self.id.endswith("0")


class Codebook:
    def __init__(self, criteria: list[Criterion], areas: dict[str, str], source: str = "<codebook>"):
        self.criteria = {c.id: c for c in criteria}
        self.areas = dict(areas)
        self.source = source

    # ----- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Codebook":
        path = Path(path)
        if not path.exists():
            raise InputError(path, None, "codebook not found",
                             "copy the agreed codebook.yaml into data/raw/")
        try:
            doc = safeyaml.safe_load(safeyaml.read_text(path))  # never executes anything
        except safeyaml.YAMLError as exc:
            raise safeyaml.input_error(path, exc, "fix the YAML syntax") from exc
        return cls.from_dict(doc, source=str(path))

    @classmethod
    def from_dict(cls, doc: dict, source: str = "<codebook>") -> "Codebook":
        if not isinstance(doc, dict) or "criteria" not in doc or "areas" not in doc:
            raise InputError(source, None, "codebook needs top-level 'areas' and 'criteria'",
                             "start from the agreed codebook.yaml")
        for name, kind, fix in (("areas", dict, "list each area as 'id: name'"),
                                ("criteria", list, "list each criterion as an entry starting '- id: ...'")):
            if not isinstance(doc[name], kind) or not doc[name]:
                raise InputError(source, name, f"'{name}' is not a {'mapping' if kind is dict else 'list'}",
                                 fix)
        scale = doc.get("judgement_scale", list(JUDGEMENTS))
        if not isinstance(scale, list) or tuple(scale) != JUDGEMENTS:
            raise InputError(source, "judgement_scale", f"scale {scale!r:.80} differs from the fixed "
                             f"{list(JUDGEMENTS)}", "keep the agreed judgement scale")
        areas = doc["areas"]
        seen: dict[str, int] = {}
        keys: dict[str, int] = {}
        criteria = []
        for i, c in enumerate(doc["criteria"], start=1):
            where = f"criteria entry {i} ({c.get('id', '?') if isinstance(c, dict) else '?'})"
            if not isinstance(c, dict):
                raise InputError(source, where, "criterion is not a mapping", "use id/key/area/label/question/values")
            missing = [k for k in ("id", "key", "area", "label", "question", "values") if k not in c]
            if missing:
                raise InputError(source, where, f"missing field(s) {missing}", "add them")
            for name in ("id", "key", "area", "label", "question"):
                if not isinstance(c[name], (str, int)) or isinstance(c[name], bool):
                    kind = type(c[name]).__name__.replace("dict", "mapping").replace("NoneType", "nothing")
                    raise InputError(source, where, f"{name} is a {kind}, not text",
                                     f"write {name} as one line of text")
            if not isinstance(c["values"], dict) or not c["values"]:
                raise InputError(source, where, "values is not a mapping of value names to judgements",
                                 "list each value as 'name: judgement', e.g. 'yes: positive'")
            cid = str(c["id"]).strip()
            if cid in seen:
                raise InputError(source, where, f"duplicate criterion id {cid!r} (also entry {seen[cid]})",
                                 "give every criterion a unique id")
            if c["key"] in keys:
                raise InputError(source, where, f"duplicate key {c['key']!r} (also entry {keys[c['key']]})",
                                 "give every criterion a unique key")
            seen[cid] = i
            keys[c["key"]] = i
            if c["area"] not in areas:
                raise InputError(source, where, f"area {c['area']!r} is not one of {list(areas)}",
                                 "use an area listed under 'areas'")
            values = {str(k): str(v) for k, v in dict(c["values"]).items()}
            bad = {k: v for k, v in values.items() if v not in JUDGEMENTS}
            if bad:
                raise InputError(source, where, f"values map to unknown judgements {bad}",
                                 f"map each value to one of {list(JUDGEMENTS)}")
            criteria.append(Criterion(cid, str(c["key"]), str(c["area"]), str(c["label"]),
                                      str(c["question"]), values))
        # Sheets name a criterion by id, key or label, matched as normalised: one name for two
        # criteria would send every column or row headed by it to whichever came last.
        named: dict[str, tuple[str, str]] = {}
        for i, crit in enumerate(criteria, start=1):
            for field_name, name in (("id", crit.id), ("key", crit.key), ("label", crit.label),
                                     ("key", crit.key.replace("_", " "))):
                other = named.setdefault(_norm_label(name), (crit.id, field_name))
                if other[0] != crit.id:
                    raise InputError(source, f"criteria entry {i} ({crit.id})", f"{field_name} {name!r} reads "
                                     f"the same as {other[0]}'s {other[1]}", "give each criterion its own label and key")
        return cls(criteria, areas, source)

    # ----- lookups -------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return list(self.criteria)

    @property
    def framed_ids(self) -> list[str]:
        return [c.id for c in self.criteria.values() if c.framed]

    def __getitem__(self, cid: str) -> Criterion:
        return self.criteria[cid]

    @cached_property
    def _criterion_lookup(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in self.criteria.values():
            for name in (c.id, c.key, c.label, c.key.replace("_", " ")):
                out[_norm_label(name)] = c.id
        return out

    def resolve_criterion(self, text: object) -> str | None:
        """Criterion id for an id, key or label (any case/spacing), or headers such as
        'A2 Attend-all-crimes policy' / 'A2: attend_all_crimes'. None when nothing matches."""
        if text is None or (isinstance(text, float) and pd.isna(text)):
            return None
        s = _norm_label(text)
        if not s:
            return None
        if s in self._criterion_lookup:
            return self._criterion_lookup[s]
        m = _ID_HEADER.fullmatch(s)
        if m and (m.group(1) + m.group(2)).upper() in self.criteria:
            cid = (m.group(1) + m.group(2)).upper()
            rest = m.group(3)
            if not rest or self._criterion_lookup.get(rest) == cid:
                return cid
        return None

    @cached_property
    def _value_words(self) -> frozenset:
        return frozenset(v for c in self.criteria.values() for v in c.values) | _YES | _NO

    def looks_like_value(self, text: object) -> bool:
        """Could ``text`` be a code of some criterion (a value name, yes/no, a judgement word or
        symbol)? For columns a sheet does not read: codes under a header that is not a criterion."""
        if text is None:
            return False
        t = str(text)
        return norm_token(t) in self._value_words or _judgement_word(t) is not None

    def resolve_value(self, cid: str, value: object = None, judgement: object = None) -> tuple[str | None, str | None]:
        """(value name, None) or (None, reason). Either the value or the judgement may be given;
        when both are, they must agree."""
        crit = self.criteria[cid]
        allowed = crit.values
        v = None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()
        j = None if judgement is None or (isinstance(judgement, float) and pd.isna(judgement)) else str(judgement).strip()
        v = v or None
        j = j or None
        if v is None and j is None:
            return None, "no value or judgement given"
        chosen = None
        if v is not None:
            chosen, why = self._value_from_text(crit, v)
            if chosen is None:
                return None, why
        jn = None
        if j is not None:
            jn = _judgement_word(j)
            if jn is None:
                if norm_token(j) in _PLACEHOLDERS or j.strip() in _DASHES:
                    return None, (f"judgement {j!r} is not a judgement: where the source says nothing on "
                                  f"{cid} leave the cell blank or delete the row (the criterion stays "
                                  f"not_reported); otherwise use one of {list(JUDGEMENTS)}")
                return None, f"judgement {j!r} is not one of {list(JUDGEMENTS)}"
        if chosen is None:
            chosen, why = self._value_from_judgement(crit, jn, original=j)
            if chosen is None:
                return None, why
        if jn is not None and allowed[chosen] != jn:
            return None, (f"value {chosen!r} means {allowed[chosen]} for {cid}, but the judgement "
                          f"column says {j!r}")
        return chosen, None

    def _value_from_text(self, crit: Criterion, text: str) -> tuple[str | None, str | None]:
        allowed = crit.values
        t = norm_token(text)
        if t in allowed:
            return t, None
        if t in _YES and "yes" in allowed:
            return "yes", None
        if t in _NO and "no" in allowed:
            return "no", None
        jn = _judgement_word(text)
        if jn is not None:
            return self._value_from_judgement(crit, jn, original=text)
        if text.strip() in _DASHES:
            return None, (f"{text!r} could mean negative or nothing to code; write a value of {crit.id} "
                          f"({', '.join(allowed)}), or leave the cell blank if the source says nothing on it")
        if text.strip().upper() in _EXCEL_ERRORS:
            return None, (f"{text!r} is an Excel error, not a value: correct the formula or paste that "
                          f"made it, then type a value of {crit.id} ({', '.join(allowed)}) or leave the "
                          "cell blank")
        if t in _PLACEHOLDERS:
            return None, (f"{text!r} is not a value: where the source says nothing on {crit.id} "
                          "leave the cell blank or delete the row (the criterion stays not_reported); "
                          f"otherwise use one of {list(allowed)}")
        return None, (f"value {text!r} is not allowed for {crit.id} ({crit.label}); "
                      f"use one of {list(allowed)}")

    @staticmethod
    def _value_from_judgement(crit: Criterion, jn: str, original: str) -> tuple[str | None, str | None]:
        options = [k for k, v in crit.values.items() if v == jn]
        if len(options) == 1:
            return options[0], None
        if not options:
            return None, f"{crit.id} has no {jn} value ({original!r}); use one of {list(crit.values)}"
        return None, (f"{original!r} is ambiguous for {crit.id}: it could be any of {options}; "
                      "write the value name")

    def judgement(self, cid: str, value: str) -> str:
        return self.criteria[cid].values[value]

    # ----- tables --------------------------------------------------------------------------
    def criteria_table(self) -> pd.DataFrame:
        rows = []
        for order, c in enumerate(self.criteria.values(), start=1):
            rows.append({
                "criterion_id": c.id, "key": c.key, "area": c.area,
                "area_label": self.areas[c.area], "label": c.label, "question": c.question,
                "values": "|".join(c.values),
                "value_judgements": "|".join(f"{k}={v}" for k, v in c.values.items()),
                "framed": c.framed, "order": order,
            })
        return pd.DataFrame(rows)
