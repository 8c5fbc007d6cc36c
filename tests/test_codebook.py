import pytest
import yaml

from analysis.codebook import Codebook
from analysis.errors import InputError
from analysis.paths import Paths

P = Paths()


@pytest.fixture(scope="module")
def cb():
    return Codebook.load(P.codebook)


def test_codebook_shape(cb):
    assert len(cb.framed_ids) == 19
    assert set(cb.ids) - set(cb.framed_ids) == {"P0", "A0", "F0"}
    assert cb["A2"].values == {"yes": "positive", "no": "negative"}
    t = cb.criteria_table()
    assert list(t["criterion_id"])[:3] == ["P1", "P2", "P3"] and t["criterion_id"].is_unique


@pytest.mark.parametrize("text,cid", [
    ("A2", "A2"), ("a2", "A2"), ("attend_all_crimes", "A2"), ("Attend-all-crimes policy", "A2"),
    ("A2 Attend-all-crimes policy", "A2"), ("F4: mobile technology", "F4"),
    ("Mobile technology on patrol", "F4"), ("  p1 ", "P1"),
])
def test_resolve_criterion(cb, text, cid):
    assert cb.resolve_criterion(text) == cid


@pytest.mark.parametrize("text", ["A12", "Z1", "", "attendance", "A2 mobile technology"])
def test_resolve_criterion_rejects(cb, text):
    assert cb.resolve_criterion(text) is None


@pytest.mark.parametrize("cid,value,judgement,expected", [
    ("A2", "Yes", None, "yes"), ("A2", "Y", None, "yes"), ("A2", "✓", None, "yes"), ("A2", "TRUE", None, "yes"),
    ("A2", "no ", None, "no"), ("A2", "N", None, "no"), ("A2", None, "positive", "yes"),
    ("P1", "Some crime types ", None, "some_crime_types"), ("P1", "force-wide", None, "force_wide"),
    ("A5", "Partial", None, "mixed"), ("A5", "Mixed", None, "mixed"), ("P2", None, "Positive", "strong"),
    ("A8", "Yes", None, "yes"), ("A8", "In some cases", None, "in_some_cases"),
])
def test_resolve_value_variants(cb, cid, value, judgement, expected):
    assert cb.resolve_value(cid, value, judgement) == (expected, None)


@pytest.mark.parametrize("cid,value,judgement,fragment", [
    ("F4", None, "negative", "ambiguous"), ("P2", "Yes", None, "not allowed"),
    ("A2", "yes", "negative", "says"), ("A2", "maybe", None, "not allowed"),
    ("A2", None, None, "no value"), ("A2", None, "great", "not one of"),
])
def test_resolve_value_problems(cb, cid, value, judgement, fragment):
    value_out, why = cb.resolve_value(cid, value, judgement)
    assert value_out is None and fragment in why


def test_duplicate_id_is_an_error(tmp_path):
    doc = yaml.safe_load(P.codebook.read_text(encoding="utf-8"))
    doc["criteria"].append(dict(doc["criteria"][0], key="another_key"))
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(InputError, match="duplicate criterion id 'P1'"):
        Codebook.load(path)


def test_bad_judgement_and_area(tmp_path):
    doc = yaml.safe_load(P.codebook.read_text(encoding="utf-8"))
    doc["criteria"][0]["values"] = {"x": "great"}
    with pytest.raises(InputError, match="unknown judgements"):
        Codebook.from_dict(doc)
    doc = yaml.safe_load(P.codebook.read_text(encoding="utf-8"))
    doc["criteria"][0]["area"] = "nowhere"
    with pytest.raises(InputError, match="area 'nowhere'"):
        Codebook.from_dict(doc)


def test_codebook_yaml_is_safe_loaded(tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text("!!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8")
    with pytest.raises(InputError):
        Codebook.load(path)
