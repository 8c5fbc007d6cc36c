"""SYNTHETIC data: a seeded generator of complete, plausible coded findings for the 43 forces.

Used by the tests (charts, workbook and notebooks must work on a full 43-force data set, which the
real public data is not) and by benchmarks (letters with a known coding). Everything it writes is
marked: round ids start with ``synthetic_``, rounds.yaml says ``synthetic: true``, every evidence
text starts with ``SYNTHETIC`` and source URLs use the reserved ``.invalid`` domain. It never
writes into the project's ``data/raw/``.

Plausibility, not realism: each force has a hidden "capability" and each criterion a difficulty;
a code's judgement follows from their sum plus noise, so strengths and weaknesses cluster within a
force the way they tend to in inspection findings. Attend-all-crimes policies are rare (about one
force in six). A few cells are left uncoded (not reported), a few get a second, weaker source
with another value (settled by precedence), and a few get two equally strong sources that
disagree (contested).

``python -m analysis synthetic DEST`` writes a raw folder; then ``python -m analysis build --raw
DEST --out ...`` builds it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import yaml

from . import paths as _paths, safeyaml
from .codebook import Codebook
from .errors import InputError
from .forces import load_forces
from .io import safe_stem
from .paths import Paths
from .rounds import SYNTHETIC_PREFIX

MARK = "SYNTHETIC"
URL = "https://synthetic.invalid/core-business"
CODED_COLUMNS = ["round", "force", "area", "criterion_id", "value", "judgement", "evidence",
                 "source_kind", "source_url", "confidence", "note"]
GRADE_QUESTIONS = {
    "reducing_crime": "How effective is the force at reducing crime and preventing offending?",
    "investigating_offending": "How effective is the force at investigating offending?",
    "tackling_asb": "How effective is the force at tackling anti-social behaviour?",
    "efficiency": "To what extent is the force efficient?",
}
GRADE_WORDS = ("Outstanding", "Good", "Requires improvement", "Inadequate")
BASE_DATE = dt.date(2014, 9, 4)

# How hard each criterion is (added to a force's capability): negative = weaknesses common.
_DIFFICULTY = {"P1": 0.0, "P2": 0.3, "P3": 0.1, "P4": -0.2, "P5": -0.6, "P6": -0.3,
               "A1": 0.4, "A2": -1.6, "A3": -0.2, "A4": -0.4, "A5": -0.3, "A6": 0.3, "A7": -0.5,
               "A8": 0.2, "A9": 0.3, "F1": -0.4, "F2": 0.0, "F3": -0.5, "F4": -0.2}

# One sentence per criterion value, written for these synthetic letters (not taken from any letter).
SENTENCES: dict[str, dict[str, str]] = {
    "P1": {"force_wide": "The force has a written strategy for preventing crime and anti-social behaviour that covers the whole force.",
           "some_crime_types": "The force has written prevention plans for some types of crime only, rather than a force-wide strategy.",
           "none": "The force does not have a written strategy for preventing crime and anti-social behaviour."},
    "P2": {"strong": "Prevention is firmly part of the force's culture and its leaders champion it.",
           "developing": "A culture of preventative policing is developing but is not yet consistent across the force.",
           "weak": "HMIC found little sign of a culture of preventative policing in the force."},
    "P3": {"good": "The force runs good long-term prevention initiatives, and its daily meetings direct staff to prevention work.",
           "some": "There are some long-term prevention initiatives, but staff are not routinely directed to prevention activity.",
           "limited": "Long-term prevention initiatives are limited and staff are rarely directed to prevention work."},
    "P4": {"used_consistently": "Neighbourhood problem-solving is recorded on a database that staff use consistently.",
           "used_inconsistently": "The force has a problem-solving database, but staff use it inconsistently.",
           "none": "There is no system for recording neighbourhood problem-solving work."},
    "P5": {"systematic": "Prevention activity is evaluated systematically and good practice is shared across the force.",
           "some": "Some prevention activity is evaluated, but good practice is not shared routinely.",
           "little_or_none": "Little prevention activity is evaluated and good practice is rarely shared."},
    "P6": {"all_relevant_staff": "All staff who deal with victims of crime and anti-social behaviour have had crime-prevention training.",
           "some_staff": "Some officers and staff have had crime-prevention training, but not all of those who need it.",
           "none": "Staff who deal with victims have not been trained in crime prevention."},
    "A1": {"clear": "The force is clear about how it will respond to calls for service from the public.",
           "partly_clear": "The force's approach to answering calls for service is only partly clear to its staff.",
           "unclear": "The force is not clear about how it will respond to calls for service."},
    "A2": {"yes": "The force has a policy that an officer attends every reported crime.",
           "no": "The force does not attend every reported crime; call handlers decide attendance by assessing threat, harm and risk."},
    "A3": {"consistent": "Call handlers consistently identify vulnerable and repeat victims when they first call.",
           "inconsistent": "Call handlers identify vulnerable and repeat victims inconsistently.",
           "not_done": "Call handlers are not able to identify vulnerable and repeat victims at first contact."},
    "A4": {"yes": "The force can tell how many crimes it attends.",
           "partly": "The force can tell how many crimes of some types it attends, but not for all crime.",
           "no": "The force cannot tell how many crimes it attends."},
    "A5": {"good": "Investigations reviewed by HMIC showed recorded progress updates and effective supervision.",
           "mixed": "Some investigations reviewed showed progress updates and supervision, but the picture was mixed.",
           "poor": "Investigations reviewed by HMIC often lacked progress updates and effective supervision."},
    "A6": {"well_managed": "The Integrated Offender Management scheme is well managed with partners.",
           "developing": "The Integrated Offender Management scheme is still developing.",
           "weak": "The Integrated Offender Management scheme is weak and poorly joined up with partners."},
    "A7": {"robust": "The force knows how many named suspects are outstanding and pursues them actively, including people who failed to answer bail.",
           "partial": "The force knows how many named suspects are outstanding but does not always pursue them actively.",
           "weak": "The force could not say how many named suspects and bail absconders are outstanding."},
    "A8": {"no": "HMIC found no sign that victims are asked to make their own enquiries.",
           "in_some_cases": "In some cases victims of volume crime are asked to make their own enquiries, such as checking CCTV.",
           "yes": "Victims of some volume crimes are in effect asked to investigate the crime themselves."},
    "A9": {"no": "PCSOs are used in line with their role and training.",
           "yes": "PCSOs are given crimes to investigate that go beyond their role and training."},
    "F1": {"good": "The force has a good understanding of its demand and of how its resources match it.",
           "developing": "The force's understanding of its demand is developing.",
           "limited": "The force has a limited understanding of its demand."},
    "F2": {"clear_process": "There is a clear process for supervisors to assess the workload and performance of frontline staff.",
           "some": "Supervisors assess the workload of some frontline staff, but there is no consistent process.",
           "none": "There is no process for supervisors to assess the workload of frontline staff."},
    "F3": {"good": "The force understands the staff-time savings made by its changes and new technology.",
           "partial": "The force has a partial understanding of the time savings from its changes.",
           "none": "The force does not know what staff time its changes and new technology have saved."},
    "F4": {"extensive": "Officers have wide access to force systems on patrol through mobile devices.",
           "some": "Some officers have mobile devices that give access to force systems on patrol.",
           "limited": "Access to mobile technology on patrol is limited.",
           "none": "Officers do not have mobile devices giving access to force systems on patrol."},
}
_OTHER_TOPICS = ("partnership work", "use of volunteers", "victim follow-up", "custody processes",
                 "use of social media", "shift patterns")
_OTHER_SENTENCE = {"strength": "HMIC noted strong {topic} in the force.",
                   "mixed": "The force's {topic} is improving but uneven.",
                   "weakness": "HMIC had concerns about the force's {topic}."}
AREA_HEADINGS = {"prevention": "Preventing Crime", "attendance": "Attendance at crimes and incidents",
                 "freeing_time": "Freeing up time"}


def _refuse_project_raw(dest: Path) -> None:
    dest = Path(dest).resolve()
    for protected in {(_paths.DATA / "raw").resolve(), Path(_paths.RAW).resolve()}:
        if dest == protected or protected in dest.parents:
            raise InputError(dest, None, "synthetic data must never be written into the project's data/raw/",
                             "choose a folder outside data/raw/, e.g. a temporary folder")
    # Nor over any other folder of data: a copy of the real raw data lost its rounds.yaml (only a
    # synthetic folder written before may be written again)
    if dest.is_file():
        raise InputError(dest, None, "is a file", "give a folder to create")
    if dest.is_dir() and any(dest.iterdir()):
        registry = dest / "rounds.yaml"
        try:
            rounds = (safeyaml.safe_load(safeyaml.read_text(registry)) or {}).get("rounds") or []
        except (OSError, ValueError, AttributeError, safeyaml.YAMLError, InputError):
            rounds = []
        if not rounds or not all(isinstance(r, dict) and r.get("synthetic") is True for r in rounds):
            raise InputError(dest, None, "is not empty and is not a synthetic raw folder written before "
                             "(its rounds.yaml is missing or lists real rounds); writing there would replace "
                             "its data", "give a new or empty folder")


def _rng(seed: int):
    import numpy as np

    return np.random.default_rng(seed)


def round_ids(n_rounds: int) -> list[str]:
    return [f"{SYNTHETIC_PREFIX}round_{k}" for k in range(1, n_rounds + 1)]


def synthetic_findings(forces: pd.DataFrame, codebook: Codebook, round_id: str = "synthetic_round_1",
                       seed: int = 0, coverage: float = 0.93, conflict_rate: float = 0.03,
                       contested_rate: float = 0.01, drift: float = 0.0,
                       letter_forces: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Long-form synthetic codes: one row per code (force x criterion, plus P0/A0/F0 extras and a
    few second opinions). Columns: the coded-sheet columns plus force_id and finding_no (the
    letter bullet a code belongs to, numbered through the letter). ``drift`` shifts every force's
    capability (a later round that improved)."""
    if not str(round_id).startswith(SYNTHETIC_PREFIX):
        raise ValueError(f"synthetic round ids start with {SYNTHETIC_PREFIX!r}, not {round_id!r}")
    rng = _rng(seed)
    forces = forces.sort_values("force_id", ignore_index=True)
    capability = {fid: float(x) + drift for fid, x in zip(forces["force_id"], rng.normal(0, 0.9, len(forces)))}
    rows: list[dict] = []
    for f in forces.itertuples(index=False):
        finding = 0
        letter = f.force_id in letter_forces
        for area in ("prevention", "attendance", "freeing_time"):
            crits = [c for c in codebook.criteria.values() if c.area == area]
            first_in_area = True
            for c in crits:
                if not c.framed:
                    continue
                if rng.random() > coverage and not letter:
                    continue
                value = _draw_value(rng, c, capability[f.force_id] + _DIFFICULTY.get(c.id, 0.0))
                # join two codes in one bullet now and then, as real letters do (never across areas)
                if first_in_area or rng.random() >= 0.2:
                    finding += 1
                first_in_area = False
                kind = "letter" if letter else str(rng.choice(["letter", "hmic_page", "press_summary"],
                                                              p=[0.7, 0.15, 0.15]))
                rows.append(_row(round_id, f, c, value, kind, finding, rng))
                r = rng.random()
                if r < contested_rate:  # an equally strong source that disagrees -> contested
                    other = _other_value(rng, c, value)
                    if other:
                        rows.append(_row(round_id, f, c, other, kind, finding, rng, second=True))
                elif r < contested_rate + conflict_rate and kind != "secondary":
                    other = _other_value(rng, c, value)
                    if other:
                        rows.append(_row(round_id, f, c, other, "secondary", finding, rng, second=True))
            other = next(c for c in codebook.criteria.values() if c.area == area and not c.framed)
            for _ in range(int(rng.integers(0, 3))):
                finding += 1
                value = _draw_value(rng, other, capability[f.force_id])
                topic = str(rng.choice(_OTHER_TOPICS))
                rows.append(_row(round_id, f, other, value, "letter" if letter else "hmic_page", finding, rng,
                                 topic=topic))
    return pd.DataFrame(rows)


def _draw_value(rng, crit, score: float) -> str:
    s = score + rng.normal(0, 0.8)
    judgement = "positive" if s > 0.45 else "negative" if s < -0.45 else "partial"
    options = [v for v, j in crit.values.items() if j == judgement]
    if not options:  # yes/no criteria have no partial value
        judgement = "positive" if s >= 0 else "negative"
        options = [v for v, j in crit.values.items() if j == judgement]
    return str(rng.choice(options))


def _other_value(rng, crit, value: str) -> str | None:
    options = [v for v in crit.values if v != value]
    return str(rng.choice(options)) if options else None


def _row(round_id, f, crit, value, kind, finding, rng, second=False, topic=None) -> dict:
    if topic:
        sentence = _OTHER_SENTENCE[value].format(topic=topic)
        note = f"finding {finding}; {topic}"
    else:
        sentence = SENTENCES.get(crit.id, {}).get(value, f"{crit.label}: {value.replace('_', ' ')}.")
        note = f"finding {finding}" + ("; second source" if second else "")
    return {
        "round": round_id, "force": f.short_name, "force_id": f.force_id, "area": crit.area,
        "finding_no": finding, "criterion_id": crit.id, "value": value, "judgement": crit.values[value],
        "evidence": f"{MARK}: {sentence}", "source_kind": kind,
        "source_url": f"{URL}/{round_id}/{f.force_id}#finding-{finding}", "confidence": str(rng.choice(
            ["high", "medium", "low"], p=[0.6, 0.3, 0.1])), "note": note,
    }


def synthetic_letter_text(force_name: str, findings: pd.DataFrame, date: dt.date = BASE_DATE) -> str:
    """A synthetic force letter built from codes (one force's rows of :func:`synthetic_findings`):
    the usual heading, one bullet per finding under the three area headings, sentences joined when
    a finding carries two codes. The first line says it is SYNTHETIC."""
    lines = [f"{MARK} LETTER: generated test data, not a real HMIC letter", "",
             f"{date.day} {date.strftime('%B %Y')}", "", f"Chief Constable – {force_name}", "",
             "Core business: An inspection of crime prevention, police attendance and use of police time",
             "", "Findings that specifically relate to your force are:", ""]
    for area, heading in AREA_HEADINGS.items():
        sub = findings[findings["area"] == area]
        if sub.empty:
            continue
        lines += [heading, ""]
        for _, bullet in sub.groupby("finding_no", sort=True):
            texts = [str(e).removeprefix(f"{MARK}: ") for e in bullet.drop_duplicates("criterion_id")["evidence"]]
            if len(texts) > 1:
                texts = [texts[0].rstrip(".") + ", and " + texts[1][0].lower() + texts[1][1:]] + texts[2:]
            lines.append("- " + " ".join(texts))
        lines.append("")
    lines += ["Yours sincerely", "", f"{MARK} HM Inspector", ""]
    return "\n".join(lines)


def _grades(forces: pd.DataFrame, findings: pd.DataFrame, round_id: str, published: dt.date, rng) -> pd.DataFrame:
    """PEEL-style grades loosely tied to each force's share of positive codes."""
    share = (findings[findings["criterion_id"].str[-1] != "0"]
             .assign(pos=lambda d: d["judgement"] == "positive").groupby("force_id")["pos"].mean())
    rows = []
    for f in forces.sort_values("force_id").itertuples(index=False):
        for qid, question in GRADE_QUESTIONS.items():
            s = float(share.get(f.force_id, 0.5)) + rng.normal(0, 0.15)
            grade = GRADE_WORDS[0 if s > 0.8 else 1 if s > 0.4 else 2 if s > 0.15 else 3]
            rows.append({"force": f.short_name, "round": round_id, "published": published.isoformat(),
                         "question_id": qid, "question": question, "grade": grade,
                         "source_kind": "hmic_page", "source_url": f"{URL}/{round_id}/{f.force_id}",
                         "note": MARK})
    return pd.DataFrame(rows)


def _measures(forces: pd.DataFrame, findings: pd.DataFrame, round_id: str, rng) -> pd.DataFrame:
    """Share of crimes attended for about 60% of forces; attend-all forces near 100%."""
    a2 = findings[findings["criterion_id"] == "A2"].groupby("force_id")["value"].first()
    rows = []
    for f in forces.sort_values("force_id").itertuples(index=False):
        if rng.random() > 0.6:
            continue
        base = 97 if a2.get(f.force_id) == "yes" else 76
        value = int(min(100, max(35, round(base + rng.normal(0, 8)))))
        approx = rng.random() < 0.1
        rows.append({"force": f.short_name, "measure": "crimes_attended_pct",
                     "qualifier": "about" if approx else "", "value": value, "unit": "percent",
                     "period": "12 months to 30 Nov 2013", "source_kind": "press_summary",
                     "source_url": f"{URL}/{round_id}/{f.force_id}", "note": MARK})
    return pd.DataFrame(rows)


def make_synthetic_raw(dest: str | Path, n_rounds: int = 1, seed: int = 0, n_letters: int = 0, *,
                       source_raw: str | Path | None = None, grades: bool = True, measures: bool = True,
                       embargo_until: str | dt.datetime | None = None,
                       processed: str | Path | None = None, reports: str | Path | None = None) -> Paths:
    """Write a complete SYNTHETIC raw-data folder at ``dest`` and return the Paths to build it:

    - ``codebook.yaml``, ``reference/forces.csv`` and ``reference/force_aliases.csv``: copies of
      the project's (from ``source_raw``, default data/raw/) — the frame, not findings;
    - ``reference/peel_question_map.csv``: the source's peel_2014 mapping rows for the generated
      grade questions, as ``synthetic_peel`` (the comparison of update rounds reads it);
    - ``rounds.yaml``: ``synthetic_round_1`` .. ``synthetic_round_<n>`` (kind coded; round 1 also
      measures, and letters when ``n_letters``; later rounds update round 1), plus
      ``synthetic_peel`` (grades) when ``grades``; all ``synthetic: true``; ``embargo_until`` on
      round 1 when given;
    - ``<round>/coded/synthetic_coded.csv``: long-form codes (evidence starts with SYNTHETIC);
    - ``synthetic_round_1/measures/synthetic_measures.csv`` and
      ``synthetic_peel/grades/synthetic_grades.csv``;
    - ``synthetic_round_1/letters/<force_id>_<date>.txt`` for ``n_letters`` forces, and the codes
      behind them in ``synthetic_round_1/letters_gold.csv`` (outside letters/, for benchmarks).

    Same arguments -> byte-identical files. Refuses a ``dest`` inside the project's data/raw/."""
    dest = Path(dest)
    _refuse_project_raw(dest)
    if n_rounds < 1:
        raise ValueError("n_rounds must be at least 1")
    src = Path(source_raw) if source_raw else _paths.RAW
    src_paths = Paths(raw=src)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "reference").mkdir(exist_ok=True)
    shutil.copyfile(src_paths.codebook, dest / "codebook.yaml")
    shutil.copyfile(src_paths.forces, dest / "reference" / "forces.csv")
    if src_paths.force_aliases.exists():
        shutil.copyfile(src_paths.force_aliases, dest / "reference" / "force_aliases.csv")
    codebook = Codebook.load(dest / "codebook.yaml")
    forces = load_forces(dest / "reference" / "forces.csv")
    rng = _rng(seed + 7919)
    letter_forces = frozenset(sorted(rng.choice(forces["force_id"].to_numpy(), size=min(n_letters, len(forces)),
                                                replace=False))) if n_letters else frozenset()

    ids = round_ids(n_rounds)
    entries = []
    first_findings = None
    for k, rid in enumerate(ids):
        published = BASE_DATE + dt.timedelta(days=120 * k)
        kinds = ["coded"]
        if k == 0 and measures:
            kinds.append("measures")
        if k == 0 and letter_forces:
            kinds.append("letters")
        entry = {"id": rid, "title": f"{MARK} round {k + 1} (generated test data)",
                 "published": published.isoformat(), "kind": kinds, "synthetic": True,
                 "notes": f"{MARK}: generated by analysis.synthetic (seed {seed}); not real findings."}
        if k:
            entry["updates"] = ids[0]
        if k == 0 and embargo_until:
            entry["embargo_until"] = (embargo_until.isoformat(timespec="minutes")
                                      if isinstance(embargo_until, dt.datetime) else str(embargo_until))
        entries.append(entry)
        fnd = synthetic_findings(forces, codebook, rid, seed=seed * 1000 + k, drift=0.25 * k,
                                 letter_forces=letter_forces if k == 0 else frozenset())
        coded_dir = dest / rid / "coded"
        coded_dir.mkdir(parents=True, exist_ok=True)
        fnd[CODED_COLUMNS].to_csv(coded_dir / "synthetic_coded.csv", index=False, lineterminator="\n")
        if k == 0:
            first_findings = fnd
            if measures:
                (dest / rid / "measures").mkdir(exist_ok=True)
                _measures(forces, fnd, rid, rng).to_csv(dest / rid / "measures" / "synthetic_measures.csv",
                                                        index=False, lineterminator="\n")
            if letter_forces:
                _write_letters(dest / rid, forces, fnd, letter_forces, published)
    if grades:
        gid = f"{SYNTHETIC_PREFIX}peel"
        published = BASE_DATE + dt.timedelta(days=84)
        entries.append({"id": gid, "title": f"{MARK} PEEL-style grades (generated test data)",
                        "published": published.isoformat(), "kind": ["grades"], "synthetic": True,
                        "notes": f"{MARK}: generated grades, loosely tied to the synthetic codes."})
        (dest / gid / "grades").mkdir(parents=True, exist_ok=True)
        _grades(forces, first_findings, gid, published, rng).to_csv(
            dest / gid / "grades" / "synthetic_grades.csv", index=False, lineterminator="\n")
        # The generated questions are shaped like PEEL 2014's: reuse its mapping rows, said so.
        from .grades_map import copy_mapping_rows, map_path

        copy_mapping_rows(map_path(src), map_path(dest), "peel_2014", gid, list(GRADE_QUESTIONS),
                          note=f"{MARK}: copied from peel_2014.")
    header = (f"# {MARK} rounds registry written by analysis.synthetic (seed {seed}).\n"
              "# Generated test data: not real inspection findings.\n")
    (dest / "rounds.yaml").write_text(header + yaml.safe_dump({"rounds": entries}, sort_keys=False,
                                                              allow_unicode=True), encoding="utf-8")
    _write_question_map(src, dest, grades)
    base = dest.parent
    return Paths(raw=dest, processed=Path(processed) if processed else base / "processed",
                 reports=Path(reports) if reports else base / "reports")


def _write_question_map(src: Path, dest: Path, grades: bool) -> None:
    """``reference/peel_question_map.csv``, which the comparison of update rounds needs: the
    source's peel_2014 rows for the generated grade questions, under ``synthetic_peel`` (only a
    header when there are no grades). Nothing when the source raw folder has no mapping."""
    from .grades_map import DEFAULT_MAP, MAP_COLUMNS, copy_mapping_rows

    source = src / DEFAULT_MAP
    if not source.exists():
        return
    target = dest / DEFAULT_MAP
    target.unlink(missing_ok=True)
    if grades:
        copy_mapping_rows(source, target, "peel_2014", f"{SYNTHETIC_PREFIX}peel", list(GRADE_QUESTIONS),
                          note=f"{MARK}: copied from peel_2014 for the generated grades.")
    else:
        target.write_text(",".join(MAP_COLUMNS) + "\n", encoding="utf-8")


def _write_letters(round_dir: Path, forces: pd.DataFrame, findings: pd.DataFrame, letter_forces, date) -> None:
    (round_dir / "letters").mkdir(exist_ok=True)
    names = forces.set_index("force_id")["force_name"]
    gold = []
    for fid in sorted(letter_forces):
        sub = findings[findings["force_id"] == fid]
        first = sub.drop_duplicates(["finding_no", "criterion_id"])
        text = synthetic_letter_text(str(names[fid]), first, date)
        # the file name comes from forces.csv: made file-safe so it cannot leave letters/
        (round_dir / "letters" / f"{safe_stem(fid)}_{date.isoformat()}.txt").write_text(text, encoding="utf-8")
        gold.append(first[["force", "round", "area", "finding_no", "criterion_id", "value", "judgement"]])
    pd.concat(gold).to_csv(round_dir / "letters_gold.csv", index=False, lineterminator="\n")


# ----- CLI ----------------------------------------------------------------------------------------
def register(sub) -> None:
    p = sub.add_parser("synthetic", help="write a SYNTHETIC raw-data folder (never into data/raw/)")
    p.add_argument("dest", type=Path, help="folder to create, e.g. /tmp/synthetic/raw")
    p.add_argument("--rounds", type=int, default=1, help="number of coded rounds (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--letters", type=int, default=0, help="forces that also get a synthetic letter")
    p.add_argument("--no-grades", action="store_true")
    p.add_argument("--no-measures", action="store_true")
    p.add_argument("--embargo-until", default=None, help="embargo end for round 1 (YYYY-MM-DD[THH:MM])")

    def run(args) -> int:
        out = make_synthetic_raw(args.dest, args.rounds, args.seed, args.letters, grades=not args.no_grades,
                                 measures=not args.no_measures, embargo_until=args.embargo_until)
        print(f"SYNTHETIC raw data written to {out.raw}")
        print(f"build it with: python -m analysis build --raw {out.raw} --out {out.processed} "
              f"--reports {out.reports}")
        return 0

    p.set_defaults(func=run)
