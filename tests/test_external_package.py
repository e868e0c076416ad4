"""A package outside the repository checks its own algorithm with theory_rl.

The test writes a tiny distribution ``softpmd_demo`` into a temporary directory: a new PMD
variant (entropy-regularised PMD, a few lines on :func:`theory_rl.pmd_step` and
:func:`theory_rl.reference`), a claim module registered through the ``theory_rl.claims``
entry-point group, and a pytest file using the ``rate_check`` fixture.  It "installs" the
package the way an installer lays it out on ``sys.path`` -- the source tree plus a
``*.dist-info`` directory whose ``entry_points.txt`` is generated from the package's
``pyproject.toml`` -- in a directory put on ``PYTHONPATH`` of the subprocesses, and does the
same for this checkout's own ``pyproject.toml`` (so its ``pytest11`` entry point is the one
tested).  Nothing is installed into the running environment, nothing is downloaded.

Then, in subprocesses: ``pytest -p theory_rl`` on the package's tests writes verdicts.json;
``theory-rl list`` shows the family; ``theory-rl verify --quick --family softpmd_demo`` runs,
plots and reports the claim; with a bug injected into the algorithm (the environment variable
``SOFTPMD_DEMO_BUG``), both report a failing verdict, and ``theory-rl verify --compare`` against
the passing run's ``verdicts.json`` names every flipped verdict (and none for the fixed code).
Plain ``pytest`` in an unrelated project loads the plugin but leaves it inactive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ALGORITHM = '''
"""Entropy-regularised policy mirror descent, written on theory_rl's pmd_step.

pi_{k+1}(.|s) ~ pi_k(.|s)^(1/(1+eta tau)) exp(eta Q_tau^k(s, .) / (1 + eta tau)), the update of
Cen et al. (2022); for 0 < eta <= (1-gamma)/tau, ||Q*_tau - Q_tau^k||_inf = O((1 - eta tau)^k).
"""
import os

import numpy as np

import theory_rl as trl


def soft_pmd(mdp, *, tau, eta, n_iterations):
    """(n_iterations + 1,) errors ||Q*_tau - Q_tau^k||_inf from the uniform policy."""
    bug = os.environ.get("SOFTPMD_DEMO_BUG") == "1"  # forgets the prior's exponent
    q_star = trl.reference(mdp, tau=tau).q_values
    pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    errors = []
    for _ in range(n_iterations + 1):
        _, q = trl.soft_evaluation(mdp, pi, tau=tau)
        errors.append(np.abs(q_star - q).max())
        prior = pi if bug else pi ** (1.0 / (1.0 + eta * tau))
        pi = trl.pmd_step(prior / prior.sum(1, keepdims=True), q, eta=eta / (1.0 + eta * tau))
    return np.array(errors)
'''

CLAIM_MODULE = '''
"""Claim softpmd_rate: entropy-regularised PMD converges linearly at rate 1 - eta tau."""
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

import theory_rl as trl
from theory_rl.experiments.base import Claim, product_grid, seed_of
from theory_rl.testing import assert_rate, verdict_of

from softpmd_demo import soft_pmd

CLAIM = Claim(
    id="softpmd_rate",
    paper="Cen et al. (2022)",
    theorem="Thm 1 (entropy-regularised NPG)",
    statement="||Q*_tau - Q^k_tau||_inf = O((1 - eta tau)^k), eta = (1-g)/tau",
    algorithm="npg",
    caption="Soft Q error of entropy-regularised PMD on garnets (log scale).",
)
GRID = product_grid(gamma=[0.8, 0.9], instance=[0, 1, 2, 3])
QUICK_GRID = product_grid(gamma=[0.8, 0.9], instance=[0, 1])
TAU = 0.1


def compute(config):
    gamma = config["gamma"]
    mdp = trl.garnet(8, 3, 2, gamma=gamma, seed=seed_of(config))
    eta = (1 - gamma) / TAU
    errors = soft_pmd(mdp, tau=TAU, eta=eta, n_iterations=60)
    return [{"k": k, "error": e, "stated": 1 - eta * TAU} for k, e in enumerate(errors)]


def check(frame):
    verdicts = []
    for (gamma, instance), run in frame.groupby(["gamma", "instance"]):
        run = run[run["error"] > 1e-10]  # resolved iterates
        v = verdict_of(assert_rate, run["k"], run["error"], rate=run["stated"].iloc[0])
        verdicts.append(dataclasses.replace(
            v, claim_id=CLAIM.id, paper=CLAIM.paper,
            theorem=f"{CLAIM.theorem}, gamma={gamma}, garnet {instance}",
        ))
    return verdicts


def plot(frame):
    fig, ax = plt.subplots()
    for (gamma, instance), run in frame.groupby(["gamma", "instance"]):
        ax.semilogy(run["k"], run["error"], label=f"gamma={gamma}, garnet {instance}")
    ax.set_xlabel("iteration k")
    ax.set_ylabel("||Q*_tau - Q^k_tau||_inf")
    ax.legend(fontsize=6)
    return fig
'''

TESTS = '''
import numpy as np
import pytest

import theory_rl as trl
from softpmd_demo import soft_pmd


@pytest.mark.statistical
@pytest.mark.parametrize("gamma", [0.8, 0.9])
def test_soft_pmd_rate(rate_check, gamma):
    """Soft PMD contracts at rate 1 - eta tau (Cen et al. 2022, Thm 1)."""
    tau = 0.1
    eta = (1 - gamma) / tau
    errors = soft_pmd(trl.garnet(8, 3, 2, gamma=gamma, seed=0), tau=tau, eta=eta, n_iterations=60)
    k = np.arange(errors.size)
    keep = errors > 1e-10
    rate_check.rate(k[keep], errors[keep], kind="geometric", rate=1 - eta * tau)


def test_recorded(rate_check):
    v = rate_check.monotone([3.0, 2.0, 1.0], increasing=False, label="toy")
    assert v.holds
    assert [r.theorem for r in rate_check.verdicts] == ["toy (assert_monotone)"]
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "softpmd_demo"
version = "0.1.0"
dependencies = ["theory_rl"]

[project.entry-points."theory_rl.claims"]
softpmd_demo = "softpmd_demo.claims"
"""

UNRELATED_TESTS = """
import pytest


def test_plugin_loaded_but_inactive(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("theory_rl")
    assert not pytestconfig.pluginmanager.has_plugin("theory_rl-rate-checks")


def test_no_rate_check_fixture(request):
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("rate_check")
"""


def install_metadata(pyproject: Path, site: Path) -> None:
    """Write the ``*.dist-info`` (METADATA, entry_points.txt) an installer would write for the
    project of ``pyproject``, into ``site``."""
    meta = tomllib.loads(pyproject.read_text())["project"]
    dist = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    groups = dict(meta.get("entry-points", {}))
    if "scripts" in meta:
        groups["console_scripts"] = meta["scripts"]
    lines = []
    for group, entries in groups.items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in entries.items()), ""]
    (dist / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    """The package's directory and the environment of a shell in which it is installed."""
    base = tmp_path_factory.mktemp("external")
    pkg = base / "softpmd_demo_project"
    (pkg / "softpmd_demo" / "claims").mkdir(parents=True)
    (pkg / "tests").mkdir()
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "softpmd_demo" / "__init__.py").write_text(ALGORITHM)
    (pkg / "softpmd_demo" / "claims" / "__init__.py").write_text("")
    (pkg / "softpmd_demo" / "claims" / "softpmd_rate.py").write_text(CLAIM_MODULE)
    (pkg / "tests" / "test_softpmd.py").write_text(TESTS)
    site = base / "site"
    install_metadata(pkg / "pyproject.toml", site)
    install_metadata(ROOT / "pyproject.toml", site)  # this checkout's entry points
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SOFTPMD_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(pkg), str(ROOT)]),
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return pkg, env


def run(args, cwd, env, bug=False):
    env = {**env, **({"SOFTPMD_DEMO_BUG": "1"} if bug else {})}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def pytest_in_package(pkg, env, out, bug=False):
    return run(
        [
            "-m",
            "pytest",
            "-p",
            "theory_rl",
            "--strict-markers",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rate-checks-json",
            str(out),
            "tests",
        ],
        pkg,
        env,
        bug,
    )


def test_pytest_plugin_records_verdicts_and_catches_the_bug(external, tmp_path):
    pkg, env = external
    out = tmp_path / "ok.json"
    res = pytest_in_package(pkg, env, out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "theory_rl rate checks" in res.stdout
    assert "3 verdicts from 3 tests: all hold" in res.stdout
    report = json.loads(out.read_text())
    assert set(report) >= {"theory_rl_version", "all_hold", "claims", "verdicts"}
    assert report["all_hold"] is True
    ids = [c["id"] for c in report["claims"]]
    assert ids == [
        "tests/test_softpmd.py::test_soft_pmd_rate[0.8]",
        "tests/test_softpmd.py::test_soft_pmd_rate[0.9]",
        "tests/test_softpmd.py::test_recorded",
    ]
    assert [c["statistical"] for c in report["claims"]] == [True, True, False]
    assert report["claims"][0]["outcome"] == "passed"
    assert report["claims"][0]["statement"].startswith("Soft PMD contracts at rate")
    rate = report["verdicts"][0]
    assert rate["claim_id"] == ids[0] and rate["theorem"] == "assert_rate"
    assert rate["measured"].startswith("fitted geometric rate")
    assert report["verdicts"][2]["theorem"] == "toy (assert_monotone)"

    bad = tmp_path / "bug.json"
    res = pytest_in_package(pkg, env, bad, bug=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "2 failed, 1 passed" in res.stdout
    assert "RateCheckError: fitted geometric rate" in res.stdout
    report = json.loads(bad.read_text())
    assert report["all_hold"] is False
    failing = [v for v in report["verdicts"] if not v["holds"]]
    assert len(failing) == 2
    assert all("the interval lies above the stated rate" in v["detail"] for v in failing)
    assert report["claims"][0]["outcome"] == "failed"


def test_theory_rl_lists_verifies_and_reports_the_external_claim(external, tmp_path):
    pkg, env = external
    cli = ["-m", "theory_rl.experiments.cli"]
    res = run([*cli, "list"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    families = [ln.split()[0] for ln in lines if ln.startswith("[")]
    assert families[-1] == "[softpmd_demo]" and families[0] == "[dp]"
    assert any(ln.startswith("softpmd_rate") for ln in lines)

    out = tmp_path / "ok"  # the default local executor: worker processes import the claim
    res = run(
        [*cli, "verify", "--quick", "--family", "softpmd_demo", "--out", str(out)], tmp_path, env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((out / "verdicts.json").read_text())
    assert [c["id"] for c in report["claims"]] == ["softpmd_rate"]
    assert report["all_hold"] is True and len(report["verdicts"]) == 4
    assert report["claims"][0]["figures"] == ["softpmd_rate.png", "softpmd_rate.pdf"]
    assert (out / "softpmd_rate.png").stat().st_size > 0
    assert (out / "softpmd_rate.parquet").exists()

    bad = tmp_path / "bug"
    res = run(
        [
            *cli,
            "verify",
            "--quick",
            "--family",
            "softpmd_demo",
            "--out",
            str(bad),
            "--workers",
            "1",
            "--compare",
            str(out / "verdicts.json"),  # the passing run is the package's baseline
        ],
        tmp_path,
        env,
        bug=True,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads((bad / "verdicts.json").read_text())
    assert report["all_hold"] is False
    assert sum(not v["holds"] for v in report["verdicts"]) == 4
    assert "FAILS" in res.stdout
    assert res.stdout.count("REGRESSION: softpmd_rate") == 4  # --compare names each flip

    again = tmp_path / "again"  # the fixed algorithm against the same baseline: no flip
    res = run(
        [
            *cli,
            "verify",
            "--quick",
            "--family",
            "softpmd_demo",
            "--out",
            str(again),
            "--workers",
            "1",
            "--compare",
            str(out / "verdicts.json"),
        ],
        tmp_path,
        env,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "REGRESSION" not in res.stdout and "no change" in res.stdout


def test_plain_pytest_elsewhere_is_unaffected(external, tmp_path):
    _, env = external
    (tmp_path / "test_plain.py").write_text(textwrap.dedent(UNRELATED_TESTS))
    res = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers"], tmp_path, env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "theory_rl rate checks" not in res.stdout
    assert not (tmp_path / "theory_rl_results").exists()
    # the ini option activates it as -p does; the report then goes to the rootdir by default
    (tmp_path / "pytest.ini").write_text("[pytest]\nrate_checks = true\n")
    res = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "no_rate"], tmp_path, env)
    assert res.returncode == 1  # the fixture exists now
    assert (tmp_path / "theory_rl_results" / "pytest" / "verdicts.json").exists()
    assert "0 verdicts from 0 tests: all hold" in res.stdout


# ------------------------------------------------------------------ registry, in process


@pytest.fixture
def entry_points(monkeypatch):
    """Replace the installed ``theory_rl.claims`` entry points by the given ones."""
    import importlib.metadata

    from theory_rl.experiments import registry

    def install(*eps):
        def fake(*, group):
            return [ep for ep in eps if ep.group == group]

        monkeypatch.setattr(importlib.metadata, "entry_points", fake)
        registry._discover.cache_clear()

    yield install
    registry._discover.cache_clear()


def test_broken_entry_point_is_named(entry_points, capsys):
    from importlib.metadata import EntryPoint

    from theory_rl.experiments import registry
    from theory_rl.experiments.cli import main

    entry_points(
        EntryPoint("brokenpkg", "no_such_module_for_theory_rl", registry.ENTRY_POINT_GROUP)
    )
    with pytest.raises(registry.ClaimRegistrationError, match="entry point 'brokenpkg'") as info:
        registry.claims_by_family()
    assert "ModuleNotFoundError" in str(info.value)
    assert main(["list"]) == 2
    assert "theory-rl: entry point 'brokenpkg' = 'no_such_module_for_theory_rl'" in (
        capsys.readouterr().err
    )


def test_entry_point_rules(entry_points):
    from importlib.metadata import EntryPoint

    from theory_rl.experiments import registry

    group = registry.ENTRY_POINT_GROUP
    entry_points(EntryPoint("pmd", "theory_rl.experiments.claims.dp", group))
    with pytest.raises(registry.ClaimRegistrationError, match="'pmd' is a built-in family"):
        registry.claims_by_family()
    entry_points(EntryPoint("empty", "theory_rl.experiments", group))
    with pytest.raises(registry.ClaimRegistrationError, match="holds no claim module"):
        registry.claims_by_family()
    # a single module is loaded as a claim (here one repeating a built-in id, refused)
    entry_points(EntryPoint("again", "theory_rl.experiments.claims.dp.vi_contraction", group))
    with pytest.raises(ValueError, match="share a CLAIM.id: vi_contraction"):
        registry.claims_by_family()
