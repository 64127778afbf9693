"""What a plain install carries: the package data that pyproject.toml lists covers every file
the code opens from the package, and the console scripts run under ``python -OO``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = REPO / "pyproject.toml"


@pytest.fixture(scope="module")
def setuptools_config() -> dict:
    if not PYPROJECT.is_file():
        pytest.skip("no pyproject.toml beside the tests")
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]


def _source_dir(config: dict, package: str) -> Path:
    """The checkout folder a package is built from (``package-dir``, else its dotted path)."""
    mapped = config.get("package-dir", {})
    if package in mapped:
        return REPO / mapped[package]
    parent, _, leaf = package.rpartition(".")
    return _source_dir(config, parent) / leaf if parent else REPO / package


def _packaged(config: dict, package: str) -> set[Path]:
    """The data files of ``package`` that its package-data globs pick up, relative to its folder."""
    folder = _source_dir(config, package)
    return {p.relative_to(folder) for pattern in config["package-data"].get(package, [])
            for p in folder.glob(pattern) if p.is_file()}


def _data_files(folder: Path) -> set[Path]:
    """Every file under ``folder`` that is not Python source or a cache: what must ship as data."""
    return {p.relative_to(folder) for p in folder.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


def test_every_package_folder_is_listed(setuptools_config):
    """A folder with an ``__init__.py`` left out of ``packages`` is missing from the wheel."""
    listed = set(setuptools_config["packages"])
    for package in list(listed):
        folder = _source_dir(setuptools_config, package)
        for init in folder.rglob("__init__.py"):
            sub = init.parent.relative_to(folder).parts
            assert ".".join((package, *sub)) in listed, f"{init.parent} is not in [tool.setuptools] packages"


@pytest.mark.parametrize("package", ["hairfx.luts", "hairfx.weights"])
def test_package_data_covers_every_data_file(setuptools_config, package):
    folder = _source_dir(setuptools_config, package)
    missing = _data_files(folder) - _packaged(setuptools_config, package)
    assert not missing, f"not in package-data for {package}, so left out of the wheel: {sorted(map(str, missing))}"


def test_package_data_covers_the_weights_and_their_terms(setuptools_config):
    packaged = _packaged(setuptools_config, "hairfx.weights")
    index = json.loads((_source_dir(setuptools_config, "hairfx.weights") / "weights.json").read_text())
    needed = {"weights.json", "MODEL_CARD.md", "LICENSE-WEIGHTS.txt"}
    for entry in index.values():
        needed |= {entry["file"], str(Path(entry["file"]).with_suffix(".onnx"))}
    assert {Path(n) for n in needed} <= packaged


def _requirements(entries: list[str]) -> dict[str, object]:
    from packaging.requirements import Requirement

    return {r.name: r for r in map(Requirement, entries)}


def test_pytorch_is_an_extra_not_a_dependency():
    """A plain install recolours and makes masks without PyTorch (the shipped ONNX networks
    run on ONNX Runtime), and a bare torch requirement pulls the CUDA build, several GB: torch
    and threadpoolctl (used by training alone) come with the extras that need them."""
    if not PYPROJECT.is_file():
        pytest.skip("no pyproject.toml beside the tests")
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert not {"torch", "threadpoolctl"} & set(_requirements(project["dependencies"]))
    extras = {name: _requirements(entries) for name, entries in project["optional-dependencies"].items()}
    assert set(extras["torch"]) == {"torch"}
    assert set(extras["train"]) == {"torch", "threadpoolctl"}
    assert str(extras["train"]["torch"].specifier) == str(extras["torch"]["torch"].specifier) == ">=2.3"
    assert "pytest" in extras["test"]


def test_setup_env_installs_the_cpu_torch_wheel_before_the_extras_the_tests_need():
    """The README's test command: PyTorch pinned first (the CPU wheel, not a CUDA build pulled
    in by the extras' bare range), then hairfx with the test and train extras (the tests
    train the network and run the torch backend)."""
    import re

    script = (REPO / "tools" / "setup_env.sh").read_text(encoding="utf-8")
    installs = [line for line in script.splitlines() if re.match(r"\.venv/bin/python -m pip install", line)]
    torch_at = next(i for i, line in enumerate(installs) if " torch==2.13.0 " in line)
    hairfx_at, extras = next((i, m.group(1)) for i, line in enumerate(installs)
                             if (m := re.search(r'"\.\[([a-z,]+)\]"', line)))
    assert torch_at < hairfx_at and set(extras.split(",")) == {"test", "train"}
    if PYPROJECT.is_file():
        assert set(extras.split(",")) <= set(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
                                             ["optional-dependencies"])


def test_license_files_exist():
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"] if PYPROJECT.is_file() else {}
    for name in project.get("license-files", []):
        assert (REPO / name).is_file(), name


def test_console_scripts_run_without_docstrings():
    """``python -OO`` (or PYTHONOPTIMIZE=2) strips docstrings; the help built from them must
    not fail."""
    code = f"""
import sys
sys.path.append({str(REPO)!r})
from hairfx.cli import main as hairfx_main
from hairfx.video_eval import main as video_eval
from tools.lut_tool import main as lut_tool
from tools.palette_report import main as report
from tools.reference_masks import main as reference_masks
for main, argv in [(hairfx_main, ["--help"]), (hairfx_main, ["train", "--help"]), (video_eval, ["--help"]),
                   (lut_tool, ["--help"]), (lut_tool, ["bake", "--help"]), (lut_tool, ["report", "--help"]),
                   (report, ["--help"]), (reference_masks, ["--help"])]:
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0, (argv, exc.code)
"""
    done = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: hairfx-lut bake" in done.stdout and "usage: reference_masks" in done.stdout
