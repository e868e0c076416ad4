"""The curated public API: every family's drivers and pure steps are exported at the top level,
every exported name is listed in ``docs/api.md`` (and nothing else is), and every exported
function or class has its docstring in its source (not assigned after definition)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re
import textwrap

import pytest

import theory_rl

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAMILIES = (
    "dp",
    "exact",
    "pmd",
    "npg",
    "pg",
    "nash",
    "sampling",
    "distributional",
    "stochastic_pg",
    "actor_critic",
    "exploration",
    "robust",
    "iwocs",
    "drpg",
    "rrmdp",
)


def _listed() -> set[str]:
    text = (ROOT / "docs" / "api.md").read_text()
    return set(re.findall(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|", text, flags=re.M))


def test_api_list_matches_the_exports():
    exported, listed = set(theory_rl.__all__), _listed()
    assert not exported - listed, f"exported but not in docs/api.md: {sorted(exported - listed)}"
    assert not listed - exported, f"in docs/api.md but not exported: {sorted(listed - exported)}"


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_name_is_exported(family):
    module = importlib.import_module(f"theory_rl.algorithms.{family}")
    public = {n for n in module.__all__ if not n.isupper()}  # constants stay in the module
    missing = public - set(theory_rl.__all__)
    assert not missing, f"theory_rl.algorithms.{family} names not exported: {sorted(missing)}"


def source_docstring(obj) -> str | None:
    """The docstring written in ``obj``'s own definition (None when it has none there)."""
    source = textwrap.dedent(inspect.getsource(obj))
    node = ast.parse(source).body[0]
    return ast.get_docstring(node)


@pytest.mark.parametrize("name", theory_rl.__all__)
def test_public_name_has_its_docstring_in_the_source(name):
    obj = getattr(theory_rl, name)
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return
    doc = source_docstring(obj)
    assert doc, f"theory_rl.{name} has no docstring in its definition"
    assert inspect.cleandoc(obj.__doc__) == doc, f"theory_rl.{name}.__doc__ is assigned elsewhere"


def test_a_docstring_assigned_after_definition_is_caught(tmp_path, monkeypatch):
    module = tmp_path / "assigned_doc.py"
    module.write_text("def f():\n    return 1\n\n\nf.__doc__ = 'set later'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    f = importlib.import_module("assigned_doc").f
    assert f.__doc__ == "set later" and source_docstring(f) is None


def test_lazy_exports_match_the_algorithms_list():
    from theory_rl import algorithms

    assert set(theory_rl._EXPORTS["theory_rl.algorithms"]) == set(algorithms.__all__)
    assert len(theory_rl.__all__) == len(set(theory_rl.__all__))
    assert set(theory_rl.__all__) <= set(dir(theory_rl))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        theory_rl.no_such_name  # noqa: B018


def test_the_pytest_plugin_loads_without_the_solvers():
    """pytest loads the plugin in every project of the environment: importing it must not pull
    in numba, SciPy or the solvers (``import theory_rl`` resolves names on first use)."""
    import subprocess
    import sys

    code = (
        "import sys, theory_rl.pytest_plugin; "
        "print(sorted(m for m in ('numba', 'scipy', 'theory_rl.algorithms') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
