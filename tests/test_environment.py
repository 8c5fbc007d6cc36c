"""pyproject.toml and environment.yml list the same packages with the same version ranges."""

import re
import tomllib

import yaml

from analysis.paths import ROOT


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    want = dict(_split(r) for r in py["dependencies"] + py["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    got = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep["pip"]:
                if r.strip() != "-e .":
                    got.update([_split(r)])
        else:
            name, spec = _split(dep)
            if name not in ("python", "pip"):
                got[name] = spec
    assert got == want
    assert "-e ." in next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "conda-forge" in env["channels"]
    py_req = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert py_req.replace(" ", "") == "python" + py["requires-python"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in readme and "make build" in readme
    assert re.search(r"^make test$", ci, re.M)
