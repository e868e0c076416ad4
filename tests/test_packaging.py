"""`pip install .` brings everything the main job imports: every module-level import in the
package is the standard library, the package itself or a core dependency in pyproject.toml."""

from __future__ import annotations

import ast
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: import name -> distribution name, where they differ
ALIASES = {"sklearn": "scikit_learn", "yaml": "pyyaml", "PIL": "pillow"}
#: modules only pytest imports (through the pytest11 entry point), so pytest is present
PYTEST_ONLY = {"theory_rl/pytest_plugin.py": {"pytest"}}


def _core_dependencies() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].strip().lower().replace("-", "_")
            for d in deps}


def _module_level_imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _missing(core: set[str]) -> dict[str, list[str]]:
    allowed = set(sys.stdlib_module_names) | {"theory_rl", "__future__"}
    missing: dict[str, list[str]] = {}
    for path in sorted((ROOT / "theory_rl").rglob("*.py")):
        exempt = PYTEST_ONLY.get(path.relative_to(ROOT).as_posix(), set())
        for name in _module_level_imports(path) - allowed - exempt:
            if ALIASES.get(name, name).lower() not in core:
                missing.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return missing


def test_module_level_imports_are_core_dependencies():
    missing = _missing(_core_dependencies())
    assert not missing, f"imported at module level but not a core dependency: {missing}"


def test_the_check_sees_a_missing_dependency():
    """With pandas only in an extra (as when `pip install . && theory-rl verify --quick` failed
    with ModuleNotFoundError), the check reports the experiment modules that import it."""
    missing = _missing(_core_dependencies() - {"pandas", "pyarrow"})
    assert "pandas" in missing
    assert any("experiments" in path for path in missing["pandas"])
