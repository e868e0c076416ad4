# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Checking your own algorithm
#
# theory_rl checks papers' convergence results by measurement.  The same machinery checks
# *your* algorithm: this notebook writes a policy-mirror-descent variant in a few lines,
# measures its convergence rate against the rate a theorem states, turns the check into a
# claim that `theory-rl verify` can run, and compares verdicts across versions, so that a
# change that breaks the rate fails CI.
#
# The variant: PMD with a KL step and geometrically growing step sizes,
#
# $$\pi^{k+1}_s \propto \pi^k_s\, e^{\eta_k Q^{\pi_k}(s,\cdot)}, \qquad
#   \eta_k = \eta / \gamma^k .$$
#
# The target is the $\gamma$-rate in the sup norm that Johnson, Pike-Burke & Rebeschini (2023)
# prove for PMD with large enough steps:
# $\|V^* - V^{\pi_k}\|_\infty \lesssim \gamma^k$.  The *bug* we inject later is the most common
# one: a step size that does not grow ($\eta_k = \eta$), which converges, but only at a rate
# close to 1.  `NB_QUICK=1` shrinks the problems.
#
# Sections 1-4 use only `theory_rl`'s core API; section 5 uses `theory_rl.testing`
# (the assertion functions and the pytest plugin) and runs where that module is installed.

# %%
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from theory_rl import garnet, reference
from theory_rl.algorithms import dp
from theory_rl.algorithms.mirror import kl_prox
from theory_rl.bounds import fit_rate
from theory_rl.experiments.compare import compare_reports
from theory_rl.experiments.sweep import make_executor, run_sweep

QUICK = os.environ.get("NB_QUICK", "0") == "1"
S, A, K = (20, 4, 40) if QUICK else (60, 6, 80)
mdp = garnet(S, A, 3, gamma=0.9, seed=0, sparse=False)

# %% [markdown]
# ## 1. The algorithm, in a few lines
# `kl_prox(pi, q, eta)` is the KL step $\pi' \propto \pi e^{\eta q}$ (shared by every
# mirror-descent method of the package); policy evaluation and $Q$ come from `dp`, the exact
# $V^*$ from `reference`.  The function returns what the theorem is about: the gap
# $\max_s V^*(s) - V^{\pi_k}(s)$, shape `(n_iterations + 1,)`.


# %%
def my_pmd(mdp, *, eta, n_iterations):
    """Gap max_s V*(s) - V^{pi_k}(s) of KL-PMD with steps eta / gamma^k, k = 0..n_iterations."""
    pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    v_star = reference(mdp).values
    gaps = np.empty(n_iterations + 1)
    for k in range(n_iterations + 1):
        v = dp.policy_evaluation(mdp, pi)
        gaps[k] = np.max(v_star - v)
        pi = kl_prox(pi, dp.q_values(mdp, v), eta / mdp.gamma**k)
    return gaps


def my_pmd_buggy(mdp, *, eta, n_iterations):
    """The same with the injected bug: the step size does not grow (eta_k = eta / 10)."""
    pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    v_star = reference(mdp).values
    gaps = np.empty(n_iterations + 1)
    for k in range(n_iterations + 1):
        v = dp.policy_evaluation(mdp, pi)
        gaps[k] = np.max(v_star - v)
        pi = kl_prox(pi, dp.q_values(mdp, v), eta / 10)
    return gaps


k = np.arange(K + 1)
gaps = my_pmd(mdp, eta=1.0, n_iterations=K)
gaps_bug = my_pmd_buggy(mdp, eta=1.0, n_iterations=K)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(k, gaps, label="my_pmd (steps eta / gamma^k)")
ax.semilogy(k, gaps_bug, label="with the bug (constant step)")
ax.semilogy(k, gaps[0] * mdp.gamma**k, "--", color="0.45", label="gap_0 gamma^k")
ax.set_xlabel("iteration k")
ax.set_ylabel(r"$\|V^* - V^{\pi_k}\|_\infty$")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. The rate, measured
# `fit_rate` fits $\log \text{gap}_k = a + k \log q$ by least squares and gives a 95%
# interval for $q$.  The statement "the rate is at most $\gamma$" holds when the whole
# interval lies below $\gamma$; points at the round-off floor are left out (the log of a
# round-off residual is not a rate).

# %%
floor = 1e3 * np.finfo(float).eps / (1 - mdp.gamma)  # round-off scale of values ~ 1/(1-gamma)


def measured_rate(gaps):
    keep = gaps > floor
    return fit_rate(np.arange(gaps.size)[keep], gaps[keep], kind="geometric", confidence=0.95)


for name, g in (("my_pmd", gaps), ("buggy", gaps_bug)):
    fit = measured_rate(g)
    verdict = "holds" if fit.rate_interval[1] < mdp.gamma else "FAILS"
    print(f"{name:7s} {fit.describe()} vs gamma = {mdp.gamma}: {verdict}")
assert measured_rate(gaps).rate_interval[1] < mdp.gamma
assert measured_rate(gaps_bug).rate_interval[0] > mdp.gamma  # the check catches the bug

# %% [markdown]
# ## 3. A claim: what `theory-rl verify` runs
# A claim module states the result (`CLAIM`), the configurations to run (`GRID`, and a small
# `QUICK_GRID` for `--quick`), `compute(config) -> rows` (one configuration; `config["seed"]`
# is a `SeedSequence` from the sweep), `plot(frame) -> Figure` and
# `check(frame) -> [Verdict]`.  The verdict's `metrics` are the numbers that
# `theory-rl verify --compare` follows across versions.
#
# We write a package `my_pmd_pkg` with the algorithm and a package of claims,
# `my_pmd_pkg.claims`, in a temporary directory.  Installed with the entry point
#
# ```toml
# [project.entry-points."theory_rl.claims"]
# my_pmd_pkg = "my_pmd_pkg.claims"
# ```
#
# its claims appear in `theory-rl list` under `my_pmd_pkg` and run with `theory-rl verify`
# (same sweeps, cache, Dask executors, figures and `report.html`).  Here we run the claim
# through the same sweep function directly.

# %%
root = Path(tempfile.mkdtemp(prefix="my_pmd_pkg-"))
pkg = root / "my_pmd_pkg"
(pkg / "claims").mkdir(parents=True)
(pkg / "__init__.py").write_text(
    "import numpy as np\n"
    "from theory_rl import reference\n"
    "from theory_rl.algorithms import dp\n"
    "from theory_rl.algorithms.mirror import kl_prox\n\n\n"
    + inspect.getsource(my_pmd)
)
(pkg / "claims" / "__init__.py").write_text("")
(pkg / "claims" / "my_pmd_rate.py").write_text(
    textwrap.dedent(
        '''
        """my_pmd converges at least at the rate gamma (sup-norm gap, 95% interval)."""
        import matplotlib.pyplot as plt
        import numpy as np

        from theory_rl import garnet
        from theory_rl.bounds import fit_rate
        from theory_rl.bounds.rates import Verdict
        from theory_rl.experiments.base import Claim, product_grid, seed_of

        from my_pmd_pkg import my_pmd

        CLAIM = Claim(
            "my_pmd_rate",
            "Johnson, Pike-Burke & Rebeschini (2023)",
            "gamma-rate of PMD with growing steps",
            "fitted rate of ||V* - V^pi_k||_inf <= gamma (upper end of its 95% interval)",
            "policy_mirror_descent",
            "Gap of my_pmd on garnets (one line per instance) against gamma^k (dashed).",
        )
        GRID = product_grid(gamma=[0.9, 0.95, 0.99], instance=list(range(8)))
        QUICK_GRID = product_grid(gamma=[0.9], instance=[0, 1, 2])
        S, A, K = 20, 4, 40


        def compute(config):
            gamma = config["gamma"]
            mdp = garnet(S, A, 3, gamma=gamma, seed=seed_of(config), sparse=False)
            gaps = my_pmd(mdp, eta=1.0, n_iterations=K)
            return [
                {"gamma": gamma, "instance": config["instance"], "k": k, "gap": float(g)}
                for k, g in enumerate(gaps)
            ]


        def check(frame):
            verdicts = []
            for gamma, runs in frame.groupby("gamma"):
                floor = 1e3 * np.finfo(float).eps / (1 - gamma)
                highs = []
                for _, run in runs.groupby("instance"):
                    keep = run["gap"].to_numpy() > floor
                    fit = fit_rate(run["k"].to_numpy()[keep], run["gap"].to_numpy()[keep])
                    highs.append(fit.rate_interval[1])
                worst = max(highs)
                verdicts.append(
                    Verdict(
                        claim_id=CLAIM.id,
                        paper=CLAIM.paper,
                        theorem=CLAIM.theorem,
                        stated=f"rate <= gamma = {gamma}",
                        measured=f"largest upper 95% end of the fitted rate {worst:.4g} "
                        f"over {len(highs)} instances",
                        holds=worst < gamma,
                        metrics={"worst_rate_high": worst, "n_runs": len(highs)},
                    )
                )
            return verdicts


        def plot(frame):
            fig, ax = plt.subplots(figsize=(5, 3.5))
            for (gamma, _), run in frame.groupby(["gamma", "instance"]):
                ax.semilogy(run["k"], run["gap"], color="C0", alpha=0.6)
            k = np.arange(K + 1)
            first = frame[frame["k"] == 0]["gap"].max()
            ax.semilogy(k, first * frame["gamma"].min() ** k, "--", color="0.45",
                        label="gamma^k")
            ax.set_xlabel("iteration k")
            ax.set_ylabel("gap")
            ax.legend()
            return fig
        '''
    )
)
sys.path.insert(0, str(root))
claim = importlib.import_module("my_pmd_pkg.claims.my_pmd_rate")

frame = run_sweep(claim.QUICK_GRID, claim.compute, executor=make_executor("serial"))
good = claim.check(frame)
for v in good:
    print(v.stated, "|", v.measured, "|", "holds" if v.holds else "FAILS")
fig = claim.plot(frame)
plt.show()
assert all(v.holds for v in good)

# %% [markdown]
# ## 4. Verdicts across versions
# Keep the `verdicts.json` of a good version as a baseline; every later run is compared with it.
# Here the "new version" is the package with the bug injected.  `compare_reports` (the function
# behind `theory-rl verify --compare baseline.json` and `theory-rl compare OLD NEW`) lists the
# flipped verdicts, the moved figures (each verdict's `metrics`, relative tolerance 1e-6 by
# default) and the claims added or removed; the commands exit with status 1 on a regression.

# %%
claim.my_pmd = my_pmd_buggy  # the injected bug
try:
    bad = claim.check(run_sweep(claim.QUICK_GRID, claim.compute, executor=make_executor("serial")))
finally:
    claim.my_pmd = sys.modules["my_pmd_pkg"].my_pmd


def as_report(verdicts):
    """The part of a verdicts.json that the comparison reads."""
    return {"claims": [{"id": claim.CLAIM.id}], "verdicts": [v.to_dict() for v in verdicts]}


comparison = compare_reports(as_report(good), as_report(bad))
print(comparison.format())
assert [f.claim_id for f in comparison.regressions] == ["my_pmd_rate"]

# The same through the command line, as CI runs it: exit status 1 on the regression.
(root / "baseline.json").write_text(json.dumps(as_report(good)))
(root / "new.json").write_text(json.dumps(as_report(bad)))
status = subprocess.run(
    [sys.executable, "-m", "theory_rl.experiments.cli", "compare",
     str(root / "baseline.json"), str(root / "new.json")],
    capture_output=True, text=True,
).returncode
print("theory-rl compare exit status:", status)
assert status == 1

# %% [markdown]
# In CI, with the package installed (and its entry point registered):
#
# ```sh
# theory-rl verify --quick --family my_pmd_pkg --compare baseline/verdicts.json
# ```
#
# runs the claim, writes `theory_rl_results/report.html` (failures first, figures embedded) and
# fails the job when a verdict that held in the baseline fails now.
#
# ## 5. In your test suite: `theory_rl.testing` and `pytest -p theory_rl`
# The assertion functions of `theory_rl.testing` do what section 2 did by hand and say in
# their message what failed and by how much:
#
# * `assert_rate(x, y, *, kind="geometric"|"power", rate, confidence=0.95,
#   side="upper"|"lower"|"two-sided")`: the fitted rate's interval against the stated rate;
# * `assert_bound(values, bound, *, rtol, atol)`: at every iterate (names the first and the
#   worst violating iterate);
# * `assert_monotone(values, *, tol, increasing=True)`;
# * `assert_sample_complexity(samples, errors, *, exponent, confidence)` for seeded replicates.
#
# Each returns the `Verdict` on success and raises `AssertionError` (a `RateCheckError`
# carrying the verdict) otherwise.

# %%
from theory_rl.testing import assert_monotone, assert_rate

keep = gaps > floor
verdict = assert_rate(k[keep], gaps[keep], kind="geometric", rate=mdp.gamma,
                      confidence=0.95, side="upper")
print("my_pmd:", verdict.measured)
# PMD improves the policy at every state, so the gap never grows (up to round-off).
assert_monotone(gaps, tol=floor, increasing=False)
try:
    assert_rate(k, gaps_bug, kind="geometric", rate=mdp.gamma, confidence=0.95,
                side="upper")
except AssertionError as exc:
    print("with the bug:", exc)
else:
    raise RuntimeError("assert_rate accepted the buggy algorithm")

# %% [markdown]
# The same check as a test file.  With `pytest -p theory_rl` the `rate_check` fixture
# collects the verdicts of the session, writes them to `verdicts.json` and prints a short table
# at the end of the run.

# %%
(root / "test_my_pmd.py").write_text(
    textwrap.dedent(
        """
        import numpy as np
        from theory_rl import garnet
        from theory_rl.testing import assert_rate

        from my_pmd_pkg import my_pmd


        def test_my_pmd_contracts_at_gamma(rate_check):
            mdp = garnet(20, 4, 3, gamma=0.9, seed=0, sparse=False)
            gaps = my_pmd(mdp, eta=1.0, n_iterations=40)
            verdict = assert_rate(np.arange(41), gaps, kind="geometric", rate=mdp.gamma,
                                  confidence=0.95, side="upper")
            rate_check(verdict)
        """
    )
)
run = subprocess.run(
    [sys.executable, "-m", "pytest", "-p", "theory_rl", "-q", "-p", "no:cacheprovider",
     "test_my_pmd.py"],
    cwd=root, capture_output=True, text=True,
    env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])},
)
print(run.stdout[-2000:], run.stderr[-2000:])
assert run.returncode == 0
