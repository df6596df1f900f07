"""environment.yml and pyproject.toml name the same dependencies; the installed torch is the CPU build."""

from __future__ import annotations

import re
import sys

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
        # "pip:" opens pip's list; "--extra-index-url ..." is an option of pip, not a package
        if in_deps and m and not m.group(1).endswith(":") and not m.group(1).startswith("-"):
            name, spec = _norm(m.group(1))
            if name not in ("python", "pip"):
                deps[name] = spec
    return deps


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = dict(_norm(r) for r in project["dependencies"])
    assert _environment_yml() == pyproject


def test_torch_is_pinned_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert _environment_yml()["torch"] == "==2.13.0"


def test_environment_yml_asks_pip_for_the_cpu_wheels():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- --extra-index-url https://download\.pytorch\.org/whl/cpu\s*$", text, re.M)


def test_the_installed_torch_is_the_cpu_build():
    """What bin/setup installed, not what a file asks for: no CUDA anywhere."""
    import importlib.metadata as md

    import torch

    assert torch.__version__.split("+")[0] == "2.13.0", torch.__version__
    assert torch.version.cuda is None, f"a CUDA build of torch: CUDA {torch.version.cuda}"
    assert not torch.backends.cudnn.is_available()
    # the CUDA wheels pull NVIDIA's libraries (and triton) in as packages of their own
    cuda_packages = sorted(d.metadata["Name"] for d in md.distributions()
                           if d.metadata["Name"] and d.metadata["Name"].lower().startswith(
                               ("nvidia-", "nvidia_", "triton")))
    assert not cuda_packages, cuda_packages
    # a wheel from PyTorch's CPU index says so in its local version tag; on macOS the
    # default wheel is the CPU build and carries no tag
    local = md.version("torch").partition("+")[2]
    if sys.platform != "darwin":
        assert local == "cpu", f"torch {md.version('torch')}: not a +cpu wheel"


def test_importing_nbformat_builds_no_grammar():
    """jsonschema 4.25+ builds rfc3987-syntax's Earley parser (lark) while it is imported,
    ~1.7 s of CPU in every process that imports nbformat: nbgrader, Jupyter's server, the
    grader (pyproject.toml pins jsonschema below it). What is loaded, not what a file asks."""
    import subprocess

    code = ("import sys, nbformat, jsonschema; nbformat.validate(nbformat.v4.new_notebook()); "
            "print(sorted(m for m in ('lark', 'rfc3987_syntax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
