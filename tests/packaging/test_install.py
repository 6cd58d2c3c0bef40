"""What a fresh install needs: every third-party import declared, and light pure layers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Imported only when present, each behind a clear message (benchmarks compare with peers).
OPTIONAL = {"flwr"}


def _requirement_name(spec: str) -> str:
    return re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower().replace("_", "-")


def _imported_modules(folder: Path) -> dict[str, str]:
    """Top-level module name -> one file importing it, over every import in `folder`
    (including imports inside functions, which a module-level scan would miss)."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def _undeclared(folder: str, declared: set[str]) -> list[str]:
    owners = packages_distributions()
    local = {"fedray", "tests", "benchmarks"}
    problems = []
    for module, where in sorted(_imported_modules(ROOT / folder).items()):
        if module in sys.stdlib_module_names or module in local or module in OPTIONAL:
            continue
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        if not dists:
            problems.append(f"{where}: imports {module}, which no installed distribution provides")
        elif not dists & declared:
            problems.append(f"{where}: imports {module} (from {sorted(dists)}), not declared")
    return problems


def test_every_import_of_the_package_is_a_declared_dependency():
    declared = {_requirement_name(s) for s in PYPROJECT["project"]["dependencies"]}
    assert _undeclared("fedray", declared) == []


@pytest.mark.parametrize("folder", ["tests", "benchmarks"])
def test_tests_and_benchmarks_need_only_the_test_extra(folder):
    project = PYPROJECT["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    assert _undeclared(folder, {_requirement_name(s) for s in specs}) == []


def test_the_walk_finds_an_undeclared_import(tmp_path, monkeypatch):
    """The check itself: a package importing something undeclared is caught."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("def f():\n    import yaml\n    import json\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _undeclared("pkg", {"numpy"}) == [
        "pkg/mod.py: imports yaml (from ['pyyaml']), not declared"
    ]
    assert _undeclared("pkg", {"pyyaml"}) == []


PURE = [
    "fedray",
    "fedray.defenses",
    "fedray.strategies",
    "fedray.attacks",
    "fedray.secagg",
    "fedray.privacy",
    "fedray.data",
    "fedray.scenario",
    "fedray.models",
    "fedray.prepare",  # fedray validate: data and model, no Ray
    "fedray.client.vectorized",
    "fedray.compression",
    "fedray.compression.clients",
]
DRIVER = ["ray", "fedray.api", "fedray.cli", "fedray.engine", "fedray.client.pool"]


@pytest.mark.parametrize("module", PURE)
def test_pure_layers_import_without_ray_or_the_driver(module):
    code = f"import sys, {module}\nprint(','.join(m for m in {DRIVER!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "", f"import {module} loaded {out.stdout.strip()}"


def test_krum_in_a_notebook_is_just_krum():
    """A notebook user gets the rule on plain arrays, and neither Ray nor torch comes along."""
    code = (
        "import sys, numpy as np\n"
        "from fedray.defenses.krum import KrumParams, krum\n"
        "rows = np.array([[0, 0], [0.1, 0], [0, 0.1], [0.1, 0.1], [9, 9]], np.float32)\n"
        "out = krum(rows, np.ones(5), KrumParams(f=1), None)\n"
        "print(int(out.selected[0]), 'ray' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    chosen, ray_loaded, torch_loaded = out.stdout.split()
    assert int(chosen) in (0, 1, 2, 3) and (ray_loaded, torch_loaded) == ("False", "False")


def test_run_is_still_reachable_from_the_top_level():
    import fedray

    assert callable(fedray.run) and fedray.RunResult.__name__ == "RunResult"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fedray.nope  # noqa: B018
