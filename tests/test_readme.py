"""The README's examples run as written, and the notation table covers the symbols."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_example_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_notation_table_covers_the_symbols():
    table = (ROOT / "docs" / "notation.md").read_text()
    for symbol in ("P", "r", "gamma", "rho", "pi", "v", "q", "d_rho^pi", "eta", "tau", "beta", "H",
                   "phi"):
        assert f"| {symbol}" in table, symbol
