"""Analyst review of the draft codes: an Excel workbook out, the analyst's decisions back in.

``review-export`` writes one row per draft code (and per finding no rule recognised) with the
finding, the proposed criterion and value, the confidence and the rule, plus decision columns with
in-cell dropdowns. ``review-import`` reads the decisions back into
``data/raw/<round>/coded/review.csv`` (long form, coder 'analyst', override TRUE), which the build
loads like any coded sheet: accepted, changed and added codes become analyst overrides that win
over the drafts; rejected drafts are suppressed (they are listed in ``rejects``). Everything is
checked first: one bad cell and nothing is written, and every bad cell is named (Review!R12).

Export pre-fills the decisions already in review.csv, so a workbook always shows the current state
and re-importing it does not lose earlier work. Import replaces the decisions of the forces that
have decisions in the workbook and leaves other forces' decisions alone; to discard every
decision for a force, delete its rows from review.csv.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from .codebook import Codebook
from .errors import InputError, InputErrors
from .io import new_workbook, save_workbook, write_readme_sheet
from .sheets import filled_cells, read_reference_csv, refuse_oversized_workbook

REVIEW_FILE = "review.csv"
SHEET = "Review"
ACTIONS = ("accept", "change", "reject", "add")
CONFIDENCES = ("high", "medium", "low")
LOW_CONFIDENCE = 0.5  # below this a row is flagged (and filled) for attention
EXTRA_ROWS = 200      # rows below the data that keep the dropdowns, for added codes

# (header, key, width, wrap): what the analyst sees, in order. Decision columns come last.
COLUMNS = [
    ("Finding ID", "finding_id", 30, False),
    ("Round", "round", 18, False),
    ("Force", "force_id", 16, False),
    ("Force name", "force_name", 18, False),
    ("Area", "area", 13, False),
    ("Finding no", "finding_no", 9, False),
    ("Finding", "text", 70, True),
    ("Proposed criterion", "criterion_id", 11, False),
    ("Proposed value", "value", 18, False),
    ("Proposed judgement", "judgement", 12, False),
    ("Confidence", "confidence", 11, False),
    ("Check", "check", 20, True),
    ("Rule", "rule", 22, False),
    ("Evidence", "evidence", 40, True),
    ("Source", "source_ref", 34, True),
    ("Action", "action", 11, False),
    ("Criterion", "new_criterion", 11, False),
    ("Value", "new_value", 20, False),
    ("Your confidence", "analyst_confidence", 12, False),
    ("Note", "note", 40, True),
]
DECISION_KEYS = ("action", "new_criterion", "new_value", "analyst_confidence", "note")
OUTPUT_COLUMNS = ["round", "force", "area", "criterion_id", "value", "judgement", "evidence", "source_kind",
                  "source_ref", "source_url", "coder", "confidence", "note", "finding_id", "action", "override"]


def _norm_header(text) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    s = str(value).strip()
    return s or None


def _letter_name(source_ref: str | None) -> str:
    return Path(str(source_ref).split(":", 1)[0]).name if source_ref else ""


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------
def _existing(paths, rounds) -> pd.DataFrame:
    frames = []
    for rnd in rounds:
        f = paths.round_dir(rnd) / "coded" / REVIEW_FILE
        if f.exists():
            frames.append(read_reference_csv(f, "review sheet", keep_default_na=False, na_values=[""]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OUTPUT_COLUMNS)


def review_rows(paths) -> pd.DataFrame:
    """The rows of the review sheet: draft codes, with earlier decisions filled in."""
    from .io import read_table

    draft = read_table("draft_codes", paths.processed)
    try:
        names = read_table("forces", paths.processed).set_index("force_id")["short_name"]
    except FileNotFoundError:
        names = pd.Series(dtype="string")
    rows = draft.copy()
    rows["force_name"] = rows["force_id"].map(names).astype("string")
    rows["check"] = [
        "NO CODE PROPOSED: code it or leave it" if pd.isna(c) else
        ("LOW CONFIDENCE: please check" if (pd.notna(s) and s < LOW_CONFIDENCE) else "")
        for c, s in zip(rows["criterion_id"], rows["confidence"])]
    for k in DECISION_KEYS:
        rows[k] = pd.Series(pd.NA, index=rows.index, dtype="string")
    rows["new_criterion"] = rows["criterion_id"]
    rows["new_value"] = rows["value"]

    prev = _existing(paths, sorted(set(rows["round"].dropna())))
    prev = prev[prev["finding_id"].notna()] if len(prev) else prev
    if len(prev):
        decided = {(d["finding_id"], d["criterion_id"], d["action"]): d for _, d in prev.iterrows()}

        def own(note) -> str | None:
            """The analyst's words only (import adds 'changed from/to X=v' itself)."""
            return re.sub(r"^changed (?:from|to) [^;\s]+(?:;\s*)?", "", "" if pd.isna(note) else str(note)) or None
        fields = ["action", "new_criterion", "new_value", "analyst_confidence", "note"]
        draft_keys = set(zip(rows["finding_id"], rows["criterion_id"]))
        for i, r in rows.iterrows():
            if pd.isna(r["criterion_id"]):
                continue
            f, c = r["finding_id"], r["criterion_id"]
            d = decided.get((f, c, "accept"))
            d = d if d is not None else decided.get((f, c, "change"))
            if d is not None:
                rows.loc[i, fields] = [d["action"], d["criterion_id"], d["value"], d["confidence"], own(d["note"])]
                continue
            rej = decided.get((f, c, "reject"))
            if rej is None:
                continue
            # a change to another criterion is stored as reject(old, "changed to NEW=v") + change(NEW)
            m = re.match(r"changed to (\w+)=", "" if pd.isna(rej["note"]) else str(rej["note"]))
            moved = decided.get((f, m.group(1), "change")) if m else None
            if moved is not None:
                rows.loc[i, fields] = ["change", moved["criterion_id"], moved["value"], moved["confidence"],
                                       own(moved["note"])]
            else:
                rows.loc[i, fields] = ["reject", r["criterion_id"], r["value"], rej["confidence"], own(rej["note"])]
        info = rows.drop_duplicates("finding_id").set_index("finding_id")
        extra = []
        for (f, c, action), d in decided.items():
            if action != "add" or f not in info.index or (f, c) in draft_keys:
                continue
            base = info.loc[f]
            extra.append({**{k: base[k] for k in ("round", "force_id", "force_name", "area", "finding_no",
                                                  "text", "source_ref")},
                          "finding_id": f, "check": "added by an analyst", "action": "add",
                          "new_criterion": c, "new_value": d["value"], "analyst_confidence": d["confidence"],
                          "note": own(d["note"])})
        if extra:
            rows = pd.concat([rows, pd.DataFrame(extra)], ignore_index=True)
    rows = rows.sort_values(["round", "force_id", "finding_no", "criterion_id"], na_position="last",
                            kind="stable", ignore_index=True)
    return rows


def export_review(paths, out_xlsx: str | Path) -> Path:
    """Write the review workbook (read-me, review sheet, lists for the dropdowns)."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.worksheet.datavalidation import DataValidation

    codebook = Codebook.load(paths.codebook)
    rows = review_rows(paths)
    wb, (readme, ws, lists) = new_workbook("Read me", SHEET, "Lists")

    # --- lists for the dropdowns: criterion ids, and one named range of values per criterion
    lists["A1"] = "criterion"
    lists["B1"] = "label"
    for i, c in enumerate(codebook.criteria.values(), start=2):
        lists.cell(i, 1, c.id)
        lists.cell(i, 2, c.label)
    n_crit = len(codebook.criteria)
    for j, c in enumerate(codebook.criteria.values(), start=4):
        col = get_column_letter(j)
        lists.cell(1, j, c.id)
        for i, v in enumerate(c.values, start=2):
            lists.cell(i, j, v)
        ref = f"{quote_sheetname('Lists')}!${col}$2:${col}${1 + len(c.values)}"
        wb.defined_names[f"vals_{c.id}"] = DefinedName(f"vals_{c.id}", attr_text=ref)
    lists.column_dimensions["B"].width = 36

    # --- the review sheet
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    flag_fill = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
    decide_fill = PatternFill("solid", start_color="DDEBF7", end_color="DDEBF7")
    for j, (header, _key, width, _w) in enumerate(COLUMNS, start=1):
        cell = ws.cell(1, j, header)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if _key in DECISION_KEYS:
            cell.fill = decide_fill
        ws.column_dimensions[get_column_letter(j)].width = width
    for i, r in enumerate(rows.itertuples(index=False), start=2):
        rec = r._asdict()
        flagged = bool(rec.get("check"))
        for j, (_h, key, _w, wrapped) in enumerate(COLUMNS, start=1):
            value = rec.get(key)
            if value is not None and not isinstance(value, str) and pd.isna(value):
                value = None
            if key == "confidence" and value is not None:
                value = float(value)
            if key == "finding_no" and value is not None:
                value = int(value)
            cell = ws.cell(i, j, value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, never a formula
            cell.alignment = wrap if wrapped else top
            if key == "confidence":
                cell.number_format = "0.00"
            if flagged and key not in DECISION_KEYS:
                cell.fill = flag_fill
    last_row = len(rows) + 1
    last_col = get_column_letter(len(COLUMNS))
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{last_col}{max(last_row, 2)}"

    col = {key: get_column_letter(j) for j, (_h, key, _w, _x) in enumerate(COLUMNS, start=1)}
    span = f"{2}:{last_row + EXTRA_ROWS}"
    lo, hi = span.split(":")

    def validation(formula: str, key: str, title: str, message: str) -> None:
        dv = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                            errorTitle=title, error=message, showInputMessage=True, promptTitle=title,
                            prompt=message)
        dv.add(f"{col[key]}{lo}:{col[key]}{hi}")
        ws.add_data_validation(dv)

    validation('"' + ",".join(ACTIONS) + '"', "action", "Action",
               "accept, change, reject or add (blank = not reviewed yet)")
    validation(f"={quote_sheetname('Lists')}!$A$2:$A${1 + n_crit}", "new_criterion", "Criterion",
               "A criterion id from the codebook (see the Lists sheet)")
    validation(f'INDIRECT("vals_"&${col["new_criterion"]}{lo})', "new_value", "Value",
               "A value allowed for the criterion in the Criterion column")
    validation('"' + ",".join(CONFIDENCES) + '"', "analyst_confidence", "Your confidence",
               "high, medium or low (blank = high)")

    _write_readme(readme, len(rows), codebook)
    return save_workbook(wb, out_xlsx)


def _write_readme(ws, n_rows: int, codebook: Codebook) -> None:
    lines = [
        ("Review of the draft codes", True),
        ("", False),
        (f"The Review sheet has one row per code the draft coder proposed ({n_rows} rows), and one row "
         "for each finding no rule recognised. Decide each row in the blue columns; leave Action blank "
         "for rows you have not reviewed (their draft codes stay as drafts).", False),
        ("", False),
        ("Actions", True),
        ("accept - the proposed code is right. Criterion and Value are already filled in.", False),
        ("change - the code should be different: pick the right Criterion and Value. If you change "
         "the criterion, the draft code under the old criterion is withdrawn.", False),
        ("reject - the finding does not support this code at all. The draft code is withdrawn.", False),
        ("add - a code the coder missed: copy the finding's row to an empty row below the table (keep "
         "Finding ID), set Action to add, and pick Criterion and Value. Also use it on a 'NO CODE "
         "PROPOSED' row.", False),
        ("", False),
        ("Rows to look at first", True),
        ("The Check column says LOW CONFIDENCE (score under 0.5) or NO CODE PROPOSED; those rows are "
         "also shaded. Filter the Check column to list them. The Rule column names the rule that fired "
         "(criterion.how.cue) and Evidence shows the words that triggered it.", False),
        ("", False),
        ("Columns", True),
        ("Finding ID, Round, Force, Area, Finding no, Finding, Source: the finding and where it is in "
         "the letter (file:line).", False),
        ("Proposed criterion / value / judgement, Confidence (0-1), Rule, Evidence: the draft code.", False),
        ("Action, Criterion, Value, Your confidence (high/medium/low, blank = high), Note: your decision.", False),
        ("", False),
        ("Bringing the decisions back", True),
        ("Save the workbook, then run: python -m analysis review-import review.xlsx, then python -m "
         "analysis build. Decisions are written to data/raw/<round>/coded/review.csv as analyst "
         "overrides, which win over the draft codes. If any cell is invalid (unknown criterion, a value "
         "the criterion does not allow, unknown action) nothing is imported and every bad cell is listed "
         "(e.g. Review!R12).", False),
        ("", False),
        ("Criteria", True),
    ] + [(f"{c.id}  {c.label}: {', '.join(f'{v} ({j})' for v, j in c.values.items())}", False)
         for c in codebook.criteria.values()]
    write_readme_sheet(ws, lines, width=120)


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------
def _read_sheet(xlsx: Path):
    from openpyxl import load_workbook

    if not xlsx.exists():
        raise InputError(xlsx, None, "workbook not found", "check the path")
    refuse_oversized_workbook(xlsx)
    try:
        wb = load_workbook(xlsx, data_only=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises several types for bad files
        raise InputError(xlsx, None, f"not a readable .xlsx workbook ({exc.__class__.__name__})",
                         "save it from Excel as .xlsx") from exc
    sheet = next((ws for ws in wb.worksheets if ws.title.strip().lower() == SHEET.lower()), None)
    if sheet is None:
        raise InputError(xlsx, None, f"no sheet called {SHEET!r}", "use the workbook review-export wrote")
    return sheet


def read_decisions(xlsx: str | Path, paths) -> pd.DataFrame:
    """Validated decisions from a review workbook, one row per code to write (reject rows included).
    Raises InputErrors naming every bad cell; returns OUTPUT_COLUMNS rows otherwise."""
    from .io import read_table

    xlsx = Path(xlsx)
    ws = _read_sheet(xlsx)
    codebook = Codebook.load(paths.codebook)
    known = read_table("letter_findings", paths.processed).set_index("finding_id")
    drafts = read_table("draft_codes", paths.processed)
    drafted = set(zip(drafts["finding_id"], drafts["criterion_id"], drafts["value"]))
    wanted = {_norm_header(h): key for h, key, _w, _x in COLUMNS}
    header = {}
    for cell in ws[1]:
        key = wanted.get(_norm_header(cell.value)) if cell.value is not None else None
        if key:
            header[key] = cell.column_letter
    needed = ("finding_id", "criterion_id", "value", "action", "new_criterion", "new_value")
    missing = [h for h, key, _w, _x in COLUMNS if key in needed and key not in header]
    if missing:
        raise InputError(xlsx, f"{ws.title}!1:1", f"missing column(s) {missing}",
                         "use the workbook review-export wrote; do not rename its headers")

    errors: list[InputError] = []
    out: list[dict] = []
    seen: dict[tuple, str] = {}

    def bad(key: str, row: int, what: str, fix: str) -> None:
        errors.append(InputError(xlsx, f"{ws.title}!{header.get(key, 'A')}{row}", what, fix))

    for r in range(2, max(filled_cells(ws), default=1) + 1):  # (not ws.max_row: see filled_cells)
        cell = {k: ws[f"{c}{r}"].value for k, c in header.items()}
        formulas = [k for k, v in cell.items() if k in DECISION_KEYS + ("finding_id",)
                    and isinstance(v, str) and v.startswith("=") and ws[f"{header[k]}{r}"].data_type == "f"]
        for k in formulas:
            bad(k, r, "a formula (formulas are not evaluated)", "type the value itself")
        if formulas:
            continue
        action_raw = _text(cell.get("action"))
        if action_raw is None:
            # not reviewed; but a code typed over the proposal with no action would be lost unseen
            typed = (_text(cell.get("new_criterion")), _text(cell.get("new_value")))
            if any(typed) and typed != (_text(cell.get("criterion_id")), _text(cell.get("value"))):
                bad("action", r, f"the code was changed to {typed[0]}={typed[1]} but Action is blank",
                    "choose change (or accept) in Action, or put the proposed code back")
            continue
        action = action_raw.lower()
        if action not in ACTIONS:
            bad("action", r, f"unknown action {action_raw!r}", f"use one of {list(ACTIONS)} or leave it blank")
            continue
        fid = _text(cell.get("finding_id"))
        if fid is None or fid not in known.index:
            bad("finding_id", r, f"unknown finding id {fid!r}" if fid else "no finding id",
                "copy the Finding ID of a row of this workbook (it names the letter finding)")
            continue
        f = known.loc[fid]
        proposed = _text(cell.get("criterion_id"))
        proposed_value = _text(cell.get("value"))
        # A workbook exported before the letters changed: its finding ids may now name other
        # findings, and its proposals other drafts. Decisions are only taken for what they saw.
        shown = _text(cell.get("text"))
        if "text" in header and shown is not None and " ".join(shown.split()) != " ".join(str(f["text"]).split()):
            bad("text", r, f"finding {fid} has changed since this workbook was exported: it now reads "
                f"{str(f['text'])[:60]!r}...", "export a new review workbook (review-export) and decide again")
            continue
        if proposed and (fid, proposed, proposed_value) not in drafted:
            bad("criterion_id", r, f"the draft {proposed}={proposed_value} of {fid} is no longer proposed "
                "(the letter or the coder changed since this workbook was exported)",
                "export a new review workbook (review-export) and decide again")
            continue
        conf = (_text(cell.get("analyst_confidence")) or "high").lower()
        if conf not in CONFIDENCES:
            bad("analyst_confidence", r, f"confidence {conf!r} is not high/medium/low", "pick from the dropdown")
            continue
        note = _text(cell.get("note"))
        base = {"round": f["round"], "force": f["force_id"], "evidence": f["text"], "source_kind": "letter",
                "source_ref": f["source_ref"], "source_url": f"letter: {_letter_name(f['source_ref'])}",
                "coder": "analyst", "confidence": conf, "finding_id": fid, "override": "TRUE"}

        def reject_row(cid: str, value: str | None, why: str | None) -> dict:
            return {**base, "area": codebook[cid].area, "criterion_id": cid, "value": value,
                    "judgement": codebook.judgement(cid, value) if value in codebook[cid].values else None,
                    "note": "; ".join(x for x in (why, note) if x) or None, "action": "reject"}

        if action == "reject":
            cid = codebook.resolve_criterion(proposed) if proposed else None
            if cid is None:
                bad("action", r, "reject on a row without a proposed code",
                    "leave Action blank, or use add to give the finding a code")
                continue
            rows_here = [reject_row(cid, proposed_value, None)]
        else:
            crit_text = _text(cell.get("new_criterion"))
            cid = codebook.resolve_criterion(crit_text) if crit_text else None
            if cid is None:
                bad("new_criterion", r, f"unknown criterion {crit_text!r}" if crit_text else "no criterion given",
                    f"pick a criterion id from the dropdown ({', '.join(codebook.ids)})")
                continue
            value, why = codebook.resolve_value(cid, _text(cell.get("new_value")))
            if value is None:
                bad("new_value", r, why if "no value" not in (why or "") else f"no value given for {cid}",
                    f"pick one of {list(codebook[cid].values)}")
                continue
            if action in ("accept", "change") and proposed:
                action = "accept" if (cid, value) == (proposed, proposed_value) else "change"
            elif action == "accept":
                action = "add"  # 'accept' on a row with no proposal can only mean a new code
            rows_here = []
            old = codebook.resolve_criterion(proposed) if proposed else None
            if action == "change" and old and old != cid:
                rows_here.append(reject_row(old, proposed_value, f"changed to {cid}={value}"))
            rows_here.append({**base, "area": codebook[cid].area, "criterion_id": cid, "value": value,
                              "judgement": codebook.judgement(cid, value),
                              "note": "; ".join(x for x in (
                                  f"changed from {proposed}={proposed_value}" if action == "change" else None,
                                  note) if x) or None,
                              "action": action})
        for row in rows_here:
            key = (fid, row["criterion_id"])
            if key in seen:
                if row["action"] == "reject" and seen[key][1] == "reject":
                    continue  # the same draft withdrawn twice: once is enough
                bad("action", r, f"{row['criterion_id']} of {fid} is decided twice (also in row {seen[key][0]})",
                    "keep one decision per finding and criterion")
                continue
            seen[key] = (r, row["action"])
            out.append(row)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return pd.DataFrame(out, columns=OUTPUT_COLUMNS).astype("string")


def import_review_all(xlsx: str | Path, paths, log=print) -> list[Path]:
    """Write the decisions to data/raw/<round>/coded/review.csv (one file per round). ``log``
    hears of earlier decisions the workbook drops (a force's decisions are replaced whole)."""
    from .rounds import Rounds

    decisions = read_decisions(xlsx, paths)
    rounds = Rounds.load(paths.rounds)
    written, checked = [], []
    for rnd, new in decisions.groupby("round", sort=True):
        rdir = paths.round_dir(rnd)
        if not rdir.is_dir():
            raise InputError(xlsx, None, f"round folder data/raw/{rnd}/ does not exist",
                             "import into the raw folder the workbook was exported from (--raw)")
        if rnd in rounds.ids and "coded" not in rounds[rnd].kind:  # (the build would not read review.csv)
            raise InputError(paths.rounds, f"round {rnd}", "its kind does not list coded, so the build would "
                             "not read the decisions (data/raw/<round>/coded/review.csv)",
                             "add coded to the round's kind in rounds.yaml, then import again")
        checked.append((rnd, rdir, new))
    for rnd, rdir, new in checked:  # (nothing is written until every round has passed)
        target = rdir / "coded" / REVIEW_FILE
        old = read_reference_csv(target, "review sheet", keep_default_na=False, na_values=[""]) \
            if target.exists() else pd.DataFrame(columns=OUTPUT_COLUMNS, dtype="string")
        keep = old[~old["force"].isin(set(new["force"]))]
        gone = old[old["force"].isin(set(new["force"]))]
        gone = gone[~pd.Series(list(zip(gone["finding_id"], gone["criterion_id"])), index=gone.index).isin(
            set(zip(new["finding_id"], new["criterion_id"])))]
        if len(gone):
            log(f"note: {len(gone)} earlier decision(s) in {target.name} for {', '.join(sorted(set(gone['force'])))} "
                "are not in this workbook and are removed (a force's decisions are replaced whole by its "
                "workbook rows): " + "; ".join(f"{f} {c} {a}" for f, c, a in
                                                zip(gone["finding_id"], gone["criterion_id"], gone["action"]))[:400])
        merged = pd.concat([keep, new], ignore_index=True)[OUTPUT_COLUMNS]
        merged = merged.sort_values(["force", "finding_id", "criterion_id", "action"], kind="stable")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        merged.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
    return written


def import_review(xlsx: str | Path, paths) -> Path:
    """Import the decisions; returns the review file written (the first one when the workbook
    held decisions for several rounds; all are written). Raises InputError on any bad cell, before
    anything is written. A workbook without decisions writes nothing and raises."""
    written = import_review_all(xlsx, paths)
    if not written:
        raise InputError(xlsx, SHEET, "no decisions found (every Action cell is blank)",
                         "choose accept, change, reject or add in the Action column")
    return written[0]


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    from .cli import add_output_arg, add_path_args

    p = subparsers.add_parser("review-export", help="write the draft codes to an Excel review workbook",
                              description="One row per draft code (and per uncoded finding), with dropdowns "
                              "for the analyst's decisions. Needs a build (draft_codes table).")
    add_output_arg(p, "workbook (.xlsx)")
    add_path_args(p)
    p.set_defaults(func=_cli_export)
    q = subparsers.add_parser("review-import", help="read an analyst's review workbook back as overrides",
                              description="Check every decision, then write data/raw/<round>/coded/review.csv "
                              "(coder analyst, override TRUE). Nothing is written if any cell is invalid.")
    q.add_argument("workbook", type=Path, help="the reviewed .xlsx")
    add_path_args(q)
    q.set_defaults(func=_cli_import)


def _cli_export(args) -> int:
    from .cli import check_output_file, paths_from_args

    paths = paths_from_args(args)
    check_output_file(args)
    try:
        out = export_review(paths, args.output)
    except FileNotFoundError as exc:
        raise InputError(None, None, str(exc), "run `python -m analysis build` first") from exc
    print(f"review workbook -> {out}")
    return 0


def _cli_import(args) -> int:
    from .cli import paths_from_args

    paths = paths_from_args(args)
    try:
        written = import_review_all(args.workbook, paths)
    except FileNotFoundError as exc:
        raise InputError(None, None, str(exc), "run `python -m analysis build` first") from exc
    if not written:
        print("no decisions in the workbook (every Action cell is blank): nothing written")
        return 0
    for w in written:
        print(f"decisions -> {w}")
    print("run `python -m analysis build` to apply them")
    return 0
