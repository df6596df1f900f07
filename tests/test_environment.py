"""environment.yml and pyproject.toml name the same dependencies."""

from __future__ import annotations

import re

import tomllib
from conftest import ROOT


def _norm(req: str) -> tuple[str, str]:
    req = req.strip().strip('"').replace(" ", "")
    m = re.match(r"([A-Za-z0-9_.\-]+)(.*)", req)
    name, spec = m.group(1).lower().replace("_", "-"), m.group(2)
    if spec.startswith("=") and not spec.startswith("=="):  # conda's single '=' pin
        spec = "=" + spec
    return name, ",".join(sorted(spec.split(","))) if spec else ""


def _environment_yml() -> dict[str, str]:
    deps, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"\s+-\s+([^#\s][^#]*?)\s*(#.*)?$", line)
        if in_deps and m and not m.group(1).endswith(":"):
            name, spec = _norm(m.group(1))
            if name not in ("python", "pip"):
                deps[name] = spec
    return deps


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = dict(_norm(r) for r in project["dependencies"])
    assert _environment_yml() == pyproject


def test_torch_is_pinned_to_the_cpu_build_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert _environment_yml()["torch"] == "==2.13.0"
