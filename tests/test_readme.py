"""The README's example runs as written, and the public names are documented."""

from __future__ import annotations

import pathlib
import re

import theory_rl

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_example_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_public_names_exist_and_have_docstrings():
    for name in theory_rl.__all__:
        obj = getattr(theory_rl, name)
        assert obj.__doc__, f"theory_rl.{name} has no docstring"


def test_notation_table_covers_the_symbols():
    table = (ROOT / "docs" / "notation.md").read_text()
    for symbol in ("P", "r", "gamma", "rho", "pi", "v", "q", "d_rho^pi", "eta", "tau", "beta", "H",
                   "phi"):
        assert f"| {symbol}" in table, symbol
