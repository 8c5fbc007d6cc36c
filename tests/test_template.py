"""The blank coding workbook: its dropdowns are the codebook's values, and whatever an analyst picks
from them (with evidence and a source) comes back through the build with nothing rejected."""

from __future__ import annotations

import openpyxl
import pytest

from analysis.build import build_tables, load_inputs
from analysis.cli import main
from analysis.codebook import Codebook
from analysis.paths import Paths
from analysis.sources import SOURCE_KINDS
from analysis.template import SHEET, write_template

P = Paths()


@pytest.fixture
def template(mini_raw):
    path = mini_raw / "test_round" / "coded" / "coding.xlsx"
    assert main(["coding-template", "-o", str(path), "--raw", str(mini_raw)]) == 0
    return path


def _dropdowns(ws) -> dict[str, list[str]]:
    """Header of each column with a list dropdown -> its values."""
    out = {}
    for dv in ws.data_validations.dataValidation:
        col = str(dv.sqref).split(":")[0].rstrip("0123456789")
        header = ws[f"{col}1"].value
        out[header] = dv.formula1.strip('"').split(",")
    return out


def test_dropdowns_are_the_codebook_values_and_every_force_has_a_row(template):
    cb = Codebook.load(P.codebook)
    ws = openpyxl.load_workbook(template)[SHEET]
    drops = _dropdowns(ws)
    framed = [c for c in cb.criteria.values() if c.framed]
    assert {h: v for h, v in drops.items() if h[:2] in cb.criteria} == {
        f"{c.id} {c.label}": list(c.values) for c in framed}
    assert drops["Source kind"] == list(SOURCE_KINDS)
    forces = [ws.cell(i, 1).value for i in range(2, ws.max_row + 1)]
    assert len(forces) == len(set(forces)) == 43
    # each criterion column has its evidence column beside it
    headers = [c.value for c in ws[1]]
    for c in framed:
        assert headers[headers.index(f"{c.id} {c.label}") + 1] == f"{c.id} evidence"


def test_every_value_picked_from_the_dropdowns_comes_back_with_nothing_rejected(template, mini_raw):
    wb = openpyxl.load_workbook(template)
    ws = wb[SHEET]
    headers = {c.value: c.column for c in ws[1]}
    drops = _dropdowns(ws)
    expected = set()
    n_forces = ws.max_row - 1
    for k, (header, values) in enumerate(drops.items()):
        if header in ("Source kind", "Confidence"):
            continue
        cid = header.split()[0]
        for i, value in enumerate(values):   # each value once, on a different force for each criterion
            row = 2 + (k * 3 + i) % n_forces
            ws.cell(row, headers[header], value)
            ws.cell(row, headers[f"{cid} evidence"], f"evidence for {cid}={value}")
            expected.add((ws.cell(row, 1).value, cid, value))
    ws.cell(2, headers["Source kind"], "letter")
    ws.cell(2, headers["Confidence"], "medium")
    wb.save(template)

    tables = build_tables(load_inputs(Paths(raw=mini_raw)), log=lambda s: None)
    f = tables["findings"]
    names = tables["forces"].set_index("force_id")["short_name"]
    got = {(names[r.force_id], r.criterion_id, r.value) for r in f.itertuples()}
    assert got == expected and len(f) == len(expected) > 40
    assert len(tables["rejects"]) == 0
    assert (f["evidence"] == "evidence for " + f["criterion_id"] + "=" + f["value"]).all()
    first = ws.cell(2, 1).value
    mine = f[f["force_id"].map(names) == first]
    assert set(mine["source_kind"]) == {"letter"} and set(mine["confidence"]) == {"medium"}
    recon = tables["reconciliation"].set_index("file").loc["test_round/coded/coding.xlsx"]
    assert recon["records_read"] == recon["used"] == len(expected) and recon["rejected"] == 0


def test_a_blank_template_gives_no_codes_and_no_rejects(template, mini_raw):
    tables = build_tables(load_inputs(Paths(raw=mini_raw)), log=lambda s: None)
    assert len(tables["findings"]) == 0 and len(tables["rejects"]) == 0
    assert (tables["matrix"]["status"] == "not_reported").all()


def test_write_template_is_atomic_and_names_no_temporary_file(tmp_path):
    out = write_template(P.codebook, P.forces, tmp_path / "sub" / "c.xlsx")
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["c.xlsx"]
