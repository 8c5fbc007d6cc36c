import pandas as pd
import pytest

from analysis.forces import ForceResolver, UnknownForce, normalise_force_name
from analysis.paths import Paths

P = Paths()


@pytest.fixture(scope="module")
def resolver():
    return ForceResolver.from_files(P.forces, P.force_aliases)


def test_forces_table_has_43_unique_forces(resolver):
    f = resolver.forces
    assert len(f) == 43 and f["force_id"].is_unique
    assert set(f["country"]) == {"England", "Wales"}
    assert (f["country"] == "Wales").sum() == 4


@pytest.mark.parametrize("name,expected", [
    ("Norfolk", "norfolk"), ("Norfolk Constabulary", "norfolk"), ("  norfolk   police ", "norfolk"),
    ("NORFOLK", "norfolk"), ("Met", "metropolitan"), ("MPS", "metropolitan"),
    ("Metropolitan Police Service", "metropolitan"), ("the Met", "metropolitan"),
    ("Devon & Cornwall", "devon-and-cornwall"), ("Devon and Cornwall Police", "devon-and-cornwall"),
    ("Dyfed Powys", "dyfed-powys"), ("Dyfed-Powys Police", "dyfed-powys"), ("GMP", "greater-manchester"),
    ("Greater Manchester Police", "greater-manchester"), ("City of London Police", "city-of-london"),
    ("Avon & Somerset Constabulary", "avon-and-somerset"), ("Hants", "hampshire"),
    ("W15000004", "dyfed-powys"), ("thames-valley", "thames-valley"),
])
def test_common_spellings(resolver, name, expected):
    assert resolver.resolve(name) == expected


def test_every_force_resolves_from_each_official_spelling(resolver):
    for row in resolver.forces.itertuples():
        for variant in (row.force_name, row.short_name, row.short_name.upper(), f" {row.short_name} Police ",
                        row.force_name.replace(" and ", " & "), row.force_id):
            assert resolver.resolve(variant) == row.force_id, variant


def test_unknown_force_suggests_closest(resolver):
    with pytest.raises(UnknownForce) as exc:
        resolver.resolve("Norfok Constabulary")
    assert exc.value.suggestions[0] == "Norfolk"
    assert "did you mean 'Norfolk'" in str(exc.value)
    assert "force_aliases.csv" in str(exc.value)


def test_suggestions_are_only_the_near_misses(resolver):
    """A misspelling gets the force it misspells, not a tail of unrelated names; an ambiguous
    short form gets every force it could be; a formula or code gets none."""
    assert resolver.suggest("Norfok") == ["Norfolk"]
    assert resolver.suggest("Metropolitian") == ["Metropolitan"]
    assert sorted(resolver.suggest("N Yorks")) == ["North Yorkshire", "South Yorkshire", "West Yorkshire"]
    for junk in ('=HYPERLINK("http://x")', "xyz", "12345", "TBC"):
        assert resolver.suggest(junk) == [], junk
        with pytest.raises(UnknownForce) as exc:
            resolver.resolve(junk)
        assert "did you mean" not in str(exc.value) and "force_aliases.csv" in str(exc.value)


def test_normalise_strips_suffixes_not_words():
    assert normalise_force_name("South Wales Police") == "south wales"
    assert normalise_force_name("Metropolitan Police Service") == "metropolitan"
    assert normalise_force_name("Police Scotland") == "police scotland"


def test_alias_to_unknown_force_is_an_error():
    forces = ForceResolver.from_files(P.forces).forces
    with pytest.raises(ValueError, match="unknown force_id"):
        ForceResolver(forces, pd.DataFrame({"alias": ["X"], "force_id": ["atlantis"]}))


@pytest.mark.parametrize("name,expected", [
    ("Thames Valley Police (TVP)", "thames-valley"), ("Dyfed-Powys Police (Heddlu Dyfed-Powys)", "dyfed-powys"),
    ("Gwent Police / Heddlu Gwent", "gwent"), ("Heddlu Gwent", "gwent"), ("Heddlu De Cymru", "south-wales"),
    ("North Wales Police | Heddlu Gogledd Cymru", "north-wales"),
    # two forces, or a part that names none: not resolved (a reject, with suggestions)
    ("Norfolk (and Suffolk)", None), ("Norfolk / Suffolk", None), ("Kent [draft]", None),
])
def test_bracketed_and_bilingual_names(resolver, name, expected):
    assert resolver.try_resolve(name) == expected


@pytest.mark.parametrize("name", ["BTP", "British Transport Police", "Police Service of Northern Ireland",
                                  "PSNI", "Police Scotland", "Ministry of Defence Police"])
def test_a_force_outside_the_43_is_named_as_such_not_matched_to_a_look_alike(resolver, name, tmp_path):
    with pytest.raises(UnknownForce) as err:
        resolver.resolve(name)
    assert "is not one of the 43 forces of England and Wales" in str(err.value)
    assert "did you mean" not in str(err.value)
    # and in an analyst's sheet: a reject with that reason
    from analysis.codebook import Codebook
    from analysis.coded import CodedLoader
    csv = tmp_path / "c.csv"
    csv.write_text(f"force,A2\nNorfolk,yes\n{name},no\n", encoding="utf-8")
    res = CodedLoader(Codebook.load(P.codebook), resolver, tmp_path).load_file(csv, "r")
    assert len(res.findings) == 1 and len(res.rejects) == 1
    assert "is not one of the 43" in res.rejects[0]["reason"] and "City of London" not in res.rejects[0]["reason"]
