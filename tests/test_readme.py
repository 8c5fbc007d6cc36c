"""The README's headline figures are the shipped build's figures (the README must stay true)."""

import re

from analysis.paths import ROOT


def _readme():
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_headline_figures_match_the_build(shipped_tables):
    text = _readme()
    m = shipped_tables["matrix"]
    cb = m[m["round"] == "core_business_2014"]
    reported = int((cb["status"] == "reported").sum())
    a2_yes = int(((cb["criterion_id"] == "A2") & (cb["value"] == "yes")).sum())
    n_conflicts = len(shipped_tables["conflicts"])
    assert f"**{reported} are reported**" in text and f"other {len(cb) - reported} are" in text
    assert f"**{a2_yes} of 43 forces are coded as having an attend-all-crimes policy (A2)**" in text
    assert f"**{n_conflicts} conflicts**" in text
    ch = shipped_tables["changes"]
    counts = ch[ch["round"] == "peel_2014"]["change"].value_counts()
    line = re.search(r"PEEL 2014 against Core Business 2014:(.*?)\n\n", text, re.S).group(1)
    for label, key in (("not revisited", "not_revisited"), ("newly\n  reported", "newly_reported"),
                       ("unchanged", "unchanged"), ("improved", "improved"), ("declined", "declined")):
        n = int(counts.get(key, 0))
        assert re.search(rf"\b{n}( of \d+ cells were)? {label.split()[0]}", line.replace("\n  ", " ")), (label, n)


def test_raw_readme_checksums_match_the_shipped_files(shipped_tables):
    """data/raw/README.md gives each copied file's SHA-256 (first 12 characters); the build's
    inputs table must still agree, or the data changed without its provenance being updated."""
    text = (ROOT / "data" / "raw" / "README.md").read_text(encoding="utf-8")
    claimed = dict(re.findall(r"^\| `([^`]+)` \|.*\| ([0-9a-f]{12}) \|$", text, re.M))
    sha = dict(zip(shipped_tables["inputs"]["file"], shipped_tables["inputs"]["sha256"]))
    assert len(claimed) >= 7
    for file, first12 in claimed.items():
        assert sha[file][:12] == first12, file


def test_readme_names_every_processed_table(shipped_paths):
    """The README's list of the tables in data/processed/ is the list the build writes."""
    text = _readme()
    part = re.search(r"`data/processed/`: the tidy tables.*?(?=\n- `reports/)", text, re.S).group(0)
    named = set(re.findall(r"`([a-z_]+)`", part)) - {"data_dictionary"}
    written = {p.stem for p in shipped_paths.processed.glob("*.parquet")} - {"data_dictionary"}
    assert written and named == written, (sorted(written - named), sorted(named - written))
