"""Tests of the ``theory-rl`` command line (list, verify, reproduce, replot) and figure files."""

from __future__ import annotations

import json
import sys
import types

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import registry
from theory_rl.experiments.base import Claim
from theory_rl.experiments.cli import main
from theory_rl.experiments.plotting import save_figure


def fake_claim_module(name: str, *, holds: bool = True, raises: bool = False):
    """A registered-claim module built in memory (runs with --workers 1, in this process)."""
    mod = types.ModuleType(name)
    mod.CLAIM = Claim(name, "Test (2024)", "Thm 0", "x <= 1", "value_iteration", "caption")
    mod.GRID = [{"x": x} for x in range(3)]
    mod.QUICK_GRID = [{"x": 0}]

    def compute(config):
        if raises:
            raise RuntimeError("compute exploded")
        return [{"y": float(config["x"])}]

    def check(frame):
        return [
            Verdict(
                claim_id=name,
                paper="Test (2024)",
                theorem="Thm 0",
                stated="x <= 1",
                measured=f"n={len(frame)}",
                holds=holds,
            )
        ]

    def plot(frame):
        fig, ax = plt.subplots()
        ax.plot(frame["x"], frame["y"])
        return fig

    mod.compute, mod.check, mod.plot = compute, check, plot
    return mod


@pytest.fixture
def fake_registry(monkeypatch):
    def install(*modules):
        for m in modules:
            monkeypatch.setitem(sys.modules, m.__name__, m)
        monkeypatch.setattr(registry, "_discover", lambda: (("fake", tuple(modules)),))

    return install


def test_list_shows_every_registered_claim(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for cid in registry.claim_ids():
        assert cid in out
    assert {"vi_contraction", "pi_monotone", "vi_stopping"} <= set(registry.claim_ids())


def _tree_state(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_verify_quick_real_claim_writes_report_figures_and_data(tmp_path, capsys, monkeypatch):
    """With default arguments the output goes to ./theory_rl_results, never paper_figures/."""
    from pathlib import Path

    paper = Path(__file__).resolve().parents[1] / "paper_figures"
    before = _tree_state(paper)
    monkeypatch.chdir(tmp_path)
    rc = main(["verify", "--quick", "--only", "pi_monotone", "--workers", "1"])
    out = tmp_path / "theory_rl_results"
    assert _tree_state(paper) == before
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    assert "pi_monotone" in captured.out and "holds" in captured.out
    assert "it/s" not in captured.err  # tqdm is silent when stderr is not a terminal
    report = json.loads((out / "verdicts.json").read_text())
    assert report["all_hold"] is True and report["claims"][0]["grid"] == "QUICK_GRID"
    assert [c["id"] for c in report["claims"]] == ["pi_monotone"]
    for name in ("pi_monotone.png", "pi_monotone.pdf", "pi_monotone.parquet"):
        assert (out / name).stat().st_size > 0
    # replot redraws from the saved data, identically.
    png = (out / "pi_monotone.png").read_bytes()
    assert main(["replot", "pi_monotone", "--out", str(out)]) == 0
    assert (out / "pi_monotone.png").read_bytes() == png


def test_failing_claim_exits_non_zero_and_says_so(tmp_path, capsys, fake_registry):
    fake_registry(fake_claim_module("ok_claim"), fake_claim_module("bad_claim", holds=False))
    rc = main(["verify", "--quick", "--out", str(tmp_path), "--workers", "1"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAILS" in out and "holds" in out
    report = json.loads((tmp_path / "verdicts.json").read_text())
    assert report["all_hold"] is False
    assert [v["holds"] for v in report["verdicts"]] == [True, False]


def test_erroring_claim_is_reported_and_others_still_run(tmp_path, capsys, fake_registry):
    fake_registry(fake_claim_module("boom", raises=True), fake_claim_module("fine"))
    rc = main(["verify", "--quick", "--out", str(tmp_path), "--workers", "1"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "ERROR" in captured.out and "compute exploded" in captured.err
    assert (tmp_path / "fine.png").exists()


def test_reproduce_uses_the_full_grid(tmp_path, capsys, fake_registry):
    fake_registry(fake_claim_module("small"))
    assert main(["reproduce", "small", "--out", str(tmp_path), "--workers", "1"]) == 0
    report = json.loads((tmp_path / "verdicts.json").read_text())
    assert report["claims"][0]["grid"] == "GRID" and report["claims"][0]["n_configs"] == 3
    assert "n=3" in capsys.readouterr().out


def test_only_updates_its_claims_in_the_report(tmp_path, fake_registry):
    fake_registry(fake_claim_module("first"), fake_claim_module("second", holds=False))
    args = ["--out", str(tmp_path), "--workers", "1"]
    assert main(["verify", "--quick", *args]) == 1
    assert main(["verify", "--only", "first", *args]) == 0  # full grid for "first" only
    report = json.loads((tmp_path / "verdicts.json").read_text())
    assert [c["id"] for c in report["claims"]] == ["first", "second"]
    assert [c["grid"] for c in report["claims"]] == ["GRID", "QUICK_GRID"]
    assert [v["claim_id"] for v in report["verdicts"]] == ["first", "second"]
    assert report["all_hold"] is False  # "second" still fails


def test_verify_resumes_from_a_cache(tmp_path, fake_registry):
    fake_registry(fake_claim_module("cached"))
    args = ["verify", "--out", str(tmp_path / "o"), "--workers", "1"]
    assert main([*args, "--cache", str(tmp_path / "c")]) == 0
    assert len(list((tmp_path / "c" / "cached").glob("part-*.parquet"))) == 3


def test_default_output_is_untracked():
    from pathlib import Path

    from theory_rl.experiments import cli

    assert cli.DEFAULT_OUT == "theory_rl_results"
    gitignore = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    assert "theory_rl_results/" in gitignore
    readme = (Path(__file__).resolve().parents[1] / "paper_figures" / "README.md").read_text()
    assert "--out paper_figures" in readme


def test_family_selects_claims_and_list_groups_them(tmp_path, capsys, monkeypatch):
    a, b, c = (fake_claim_module(n) for n in ("a_claim", "b_claim", "c_claim"))
    for m in (a, b, c):
        monkeypatch.setitem(sys.modules, m.__name__, m)
    monkeypatch.setattr(registry, "_discover", lambda: (("dp", (a,)), ("robust", (b, c))))
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert listing.index("[dp]") < listing.index("a_claim") < listing.index("[robust]")
    assert listing.index("[robust]") < listing.index("b_claim")
    args = ["verify", "--quick", "--out", str(tmp_path), "--workers", "1"]
    assert main([*args, "--family", "robust"]) == 0
    report = json.loads((tmp_path / "verdicts.json").read_text())
    assert [c["id"] for c in report["claims"]] == ["b_claim", "c_claim"]
    assert main([*args, "--family", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown family: nope" in err and "known families: dp, robust" in err
    assert main([*args, "--family", "dp", "--only", "b_claim"]) == 2
    assert main([*args, "--family", "dp", "robust", "--only", "c_claim"]) == 0


def test_usage_errors(tmp_path, capsys):
    assert main(["verify", "--only", "no_such_claim", "--out", str(tmp_path)]) == 2
    assert "unknown claim" in capsys.readouterr().err
    assert main(["replot", "vi_contraction", "--out", str(tmp_path / "empty")]) == 2
    with pytest.raises(SystemExit):
        main(["frobnicate"])


def test_saved_figures_are_byte_stable(tmp_path):
    def draw():
        fig, ax = plt.subplots()
        ax.semilogy([0, 1, 2], [1.0, 0.1, 0.01], label="x")
        ax.legend()
        return fig

    first = save_figure(draw(), tmp_path / "a" / "fig")
    second = save_figure(draw(), tmp_path / "b" / "fig")
    for p, q in zip(first, second, strict=True):
        assert p.read_bytes() == q.read_bytes(), p.name
    pdf = first[1].read_bytes()
    assert b"CreationDate" not in pdf and b"Producer" not in pdf
    assert b"Software" not in first[0].read_bytes()


def test_paper_figures_readme_indexes_every_claim():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "paper_figures" / "README.md"
    text = readme.read_text()
    for cid in registry.claim_ids():
        assert f"`{cid}`" in text and f"theory-rl reproduce {cid}" in text, cid


def test_registry_discovers_families_in_order(tmp_path, monkeypatch):
    """Families dp, pmd, npg, pg, nash first, others alphabetically; ``_`` modules and modules
    without CLAIM skipped; an incomplete claim module is a TypeError naming what it lacks."""
    root = tmp_path / "fake_claims_pkg"
    body = (
        "from theory_rl.experiments.base import Claim\n"
        "CLAIM = Claim({id!r}, 'P', 'T', 's', 'value_iteration')\n"
        "GRID = QUICK_GRID = [{{}}]\n"
        "def compute(c): return []\n"
        "def plot(f): return None\n"
        "def check(f): return []\n"
    )
    layout = {
        "zeta": ["b_claim", "a_claim"],
        "nash": ["n1"],
        "dp": ["d2", "d1"],
        "alpha": ["x1"],
        "empty": [],
    }
    root.mkdir()
    (root / "__init__.py").write_text("")
    for family, names in layout.items():
        (root / family).mkdir()
        (root / family / "__init__.py").write_text("")
        (root / family / "_common.py").write_text("CLAIM = None\n")
        (root / family / "notes.py").write_text("X = 1\n")
        for n in names:
            (root / family / f"{n}.py").write_text(body.format(id=n))
    monkeypatch.syspath_prepend(str(tmp_path))
    found = registry.discover("fake_claims_pkg")
    assert [(f, [m.CLAIM.id for m in mods]) for f, mods in found] == [
        ("dp", ["d1", "d2"]),
        ("nash", ["n1"]),
        ("alpha", ["x1"]),
        ("zeta", ["a_claim", "b_claim"]),
    ]
    (root / "alpha" / "broken.py").write_text("CLAIM = 1\nGRID = []\n")
    with pytest.raises(TypeError, match="broken lacks QUICK_GRID"):
        registry.discover("fake_claims_pkg")


def test_registry_families_of_the_real_claims():
    fams = registry.families()
    assert fams[:5] == ["dp", "pmd", "npg", "pg", "nash"]
    assert registry.family_of("vi_contraction") == "dp"
    assert set(registry.claims_by_family()["pmd"]) >= {"pmd_xiao", "pmd_rates"}
    assert registry.claim_ids() == [c for f in fams for c in registry.claims_by_family()[f]]
