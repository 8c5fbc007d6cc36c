"""From findings to the framework matrix: one cell per round x force x framed criterion.

The matrix is a pivot of the codings, never a separately maintained table. Each cell's candidate
codes are ranked by :func:`analysis.sources.precedence_key`; the best-ranked group decides the cell
if it agrees, otherwise the cell is ``contested``. A cell with no code is ``not_reported``.
Every cell whose candidates disagree (resolved or not) is listed in ``conflicts``.
"""

from __future__ import annotations

import pandas as pd

from . import schemas
from .codebook import CONTESTED, NOT_REPORTED, Codebook
from .sources import describe_rank, precedence_key


_MATRIX_ORDER = ["round", "force_id", "area", "criterion_id", "status", "value", "judgement", "n_sources",
                 "n_values", "winning_source_kind", "winning_source_ref", "resolution", "synthetic"]
_NEEDED = ("round", "force_id", "criterion_id", "value", "source_kind", "coder", "is_override", "source_ref",
           "confidence")


def resolve(findings: pd.DataFrame, forces: pd.DataFrame, codebook: Codebook,
            rounds: list[str], synthetic: dict[str, bool] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matrix, conflicts) for the given rounds."""
    synthetic = synthetic or {}
    framed = codebook.framed_ids
    # Candidates per cell. Only the columns the decision uses, read as plain lists (turning the
    # whole findings table into dicts row by row was most of the cost at 100 rounds).
    f = findings[findings["criterion_id"].isin(framed)] if len(findings) else findings
    cols = {c: f[c].astype(object).where(f[c].notna(), None).tolist() for c in _NEEDED}
    rank_memo: dict[tuple, tuple] = {}
    by_cell: dict[tuple, list[dict]] = {}
    for rec in (dict(zip(_NEEDED, vals)) for vals in zip(*(cols[c] for c in _NEEDED))):
        rank = (bool(rec["is_override"]), rec["source_kind"], rec["coder"])
        if rank not in rank_memo:
            rank_memo[rank] = precedence_key(*rank)
        rec["key"] = rank_memo[rank]
        by_cell.setdefault((rec["round"], rec["force_id"], rec["criterion_id"]), []).append(rec)

    areas = {cid: codebook[cid].area for cid in framed}
    judgement_memo: dict[tuple, str] = {}

    def judgement(cid: str, value: str) -> str:
        if (cid, value) not in judgement_memo:
            judgement_memo[(cid, value)] = codebook.judgement(cid, value)
        return judgement_memo[(cid, value)]

    # Rows as tuples in _MATRIX_ORDER (a list of dicts is slow to turn into a frame at 80k rows).
    matrix_rows, conflict_rows = [], []
    add = matrix_rows.append
    for rnd in rounds:
        synth = synthetic.get(rnd, False)
        for fid in forces["force_id"]:
            for cid in framed:
                cands = by_cell.get((rnd, fid, cid))
                area = areas[cid]
                if not cands:
                    add((rnd, fid, area, cid, "not_reported", NOT_REPORTED, NOT_REPORTED, 0, 0, None, None,
                         "not_reported", synth))
                    continue
                if len(cands) == 1:  # most cells: nothing to rank
                    c = cands[0]
                    add((rnd, fid, area, cid, "reported", c["value"], judgement(cid, c["value"]), 1, 1,
                         c["source_kind"], c["source_ref"], "single", synth))
                    continue
                keyed = sorted(cands, key=lambda c: (c["key"], c["source_ref"]))
                best_key = keyed[0]["key"]
                top = [c for c in keyed if c["key"] == best_key]
                all_values = sorted({c["value"] for c in cands})
                top_values = sorted({c["value"] for c in top})
                winning = (top[0]["source_kind"], ";".join(c["source_ref"] for c in top))
                if len(top_values) == 1:
                    value = top_values[0]
                    resolution = "agreement" if len(all_values) == 1 else "precedence"
                    add((rnd, fid, area, cid, "reported", value, judgement(cid, value), len(cands),
                         len(all_values), *winning, resolution, synth))
                else:
                    value, resolution = CONTESTED, "contested"
                    add((rnd, fid, area, cid, "contested", CONTESTED, CONTESTED, len(cands),
                         len(all_values), *winning, resolution, synth))
                if len(all_values) > 1:
                    desc = " | ".join(
                        f"{c['value']} [{describe_rank(bool(c['is_override']), c['source_kind'], c['coder'])}, "
                        f"confidence {c['confidence'] or 'n/a'}] {c['source_ref']}" for c in keyed)
                    how = (f"precedence: {describe_rank(bool(top[0]['is_override']), top[0]['source_kind'], top[0]['coder'])} "
                           f"outranks the rest" if resolution == "precedence" else
                           "contested: equally ranked sources disagree")
                    conflict_rows.append({"round": rnd, "force_id": fid, "criterion_id": cid,
                                          "values": "|".join(all_values), "n_candidates": len(cands),
                                          "candidates": desc, "resolved_value": value, "resolution": how})
    matrix = schemas.tuples_frame("matrix", matrix_rows, _MATRIX_ORDER)
    conflicts = schemas.frame("conflicts", conflict_rows) if conflict_rows else schemas.empty("conflicts")
    return matrix, conflicts
