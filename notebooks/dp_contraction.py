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
# # Dynamic programming and its contraction
#
# A discounted MDP $(P, r, \gamma)$ has a unique optimal value $V^*$, the fixed point of the
# Bellman optimality operator
#
# $$ (Tv)(s) = \max_a \Big[ r(s,a) + \gamma \sum_{s'} P(s' \mid s, a)\, v(s') \Big]. $$
#
# $T$ is a $\gamma$-contraction in the sup norm (Puterman 1994, Prop. 6.2.4):
# $\|Tu - Tv\|_\infty \le \gamma \|u - v\|_\infty$. Everything in this notebook follows from that
# one line:
#
# 1. we solve one MDP four ways -- value iteration (VI), policy iteration (PI), modified policy
#    iteration (MPI) and linear programming (LP) -- and check that they agree;
# 2. we watch VI's error $\|V_k - V^*\|_\infty$ fall below the contraction bound
#    $\gamma^k \|V_0 - V^*\|_\infty$ at every iterate;
# 3. we check VI's span stopping rule: its returned policy is `tol`-optimal.
#
# Set `NB_QUICK=1` for a small instance (CI); the default is larger.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from theory_rl.algorithms import dp
from theory_rl.bounds.mdp_constants import value_error_floor
from theory_rl.bounds.puterman1994 import vi_contraction_bound
from theory_rl.bounds.rates import check_bound, fit_rate
from theory_rl.experiments import plotting
from theory_rl.mdps.generators import garnet

QUICK = os.environ.get("NB_QUICK", "0") == "1"
N_STATES = 30 if QUICK else 300
N_ACTIONS = 4
GAMMA = 0.95

mdp = garnet(N_STATES, N_ACTIONS, 5, gamma=GAMMA, seed=2024)
floor = value_error_floor(mdp)  # worst-case round-off of a computed value vector, doubled
mdp, floor

# %% [markdown]
# ## Four solvers, one answer
#
# Policy iteration evaluates each policy exactly (an LU solve) and stops when no state can
# improve, so its values are $V^*$ up to round-off. Value iteration and MPI stop by the span
# rule at `tol`: their values are within `tol / 2` of $V^*$. The LP is solved by HiGHS, whose
# feasibility tolerance (set to 1e-10 in `dp.linear_programming`) limits its accuracy.

# %%
TOL = 1e-8
results = {
    "value_iteration": dp.value_iteration(mdp, tol=TOL),
    "policy_iteration": dp.policy_iteration(mdp),
    "modified_policy_iteration": dp.modified_policy_iteration(mdp, m=10, tol=TOL),
    "linear_programming": dp.linear_programming(mdp),
}
v_star = results["policy_iteration"].values
for name, res in results.items():
    err = np.abs(res.values - v_star).max()
    print(f"{name:28s} iterations {res.n_iterations:5d}   ||V - V_PI||_inf = {err:.2e}")

# %%
# VI and MPI: values within tol/2 of V* (span stopping rule), plus round-off.
for name in ("value_iteration", "modified_policy_iteration"):
    assert results[name].converged
    assert np.abs(results[name].values - v_star).max() <= TOL / 2 + floor, name
# PI certifies itself: its values satisfy the Bellman equation to round-off.
residual = np.abs(dp.bellman_optimality_operator(mdp, v_star) - v_star).max()
assert residual <= floor, residual
# LP: each constraint is met to HiGHS's primal feasibility tolerance 1e-10, so
# v_LP >= T v_LP - 1e-10 and hence v_LP >= V* - 1e-10 / (1 - gamma); we allow ten times
# that on either side for the dual (optimality) tolerance of the same size.
lp_error = np.abs(results["linear_programming"].values - v_star).max()
assert lp_error <= 10 * 1e-10 / (1 - GAMMA) + floor, lp_error

# %%
# Every returned policy is optimal: its exact value is within tol of V*.
for name, res in results.items():
    v_pi = dp.policy_evaluation(mdp, res.policy)
    gap = np.abs(v_pi - v_star).max()
    print(f"{name:28s} ||V^pi - V*||_inf = {gap:.2e}")
    assert gap <= TOL + floor, name

# %% [markdown]
# ## The contraction, iterate by iterate
#
# Starting from $V_0 = 0$ we record every iterate of value iteration through its callback and
# compare $\|V_k - V^*\|_\infty$ with the bound $\gamma^k \|V_0 - V^*\|_\infty$.

# %%
n_iter = int(np.ceil(np.log(1e-12) / np.log(GAMMA)))
iterates = [np.zeros(mdp.n_states)]
dp.value_iteration(
    mdp,
    tol=1e-300,  # never met: run exactly n_iter sweeps
    max_iterations=n_iter,
    initial_values=iterates[0],
    callback=lambda res: iterates.append(np.array(res.values)),
)
errors = np.abs(np.array(iterates) - v_star).max(axis=1)
k = np.arange(errors.size)
bound = vi_contraction_bound(errors[0], GAMMA, k)

with plotting.paper_style():
    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    ax.semilogy(k, errors, color=plotting.color("value_iteration"), label="value iteration")
    plotting.reference_line(ax, k, bound, r"$\gamma^k\,\|V_0 - V^*\|_\infty$")
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(r"$\|V_k - V^*\|_\infty$")
    ax.legend()
plt.show()

# %%
# The bound holds at every iterate (up to round-off) ...
check = check_bound(errors, bound, atol=floor)
print(check.describe())
assert check.holds
# ... and the fitted rate, on the iterates well above round-off, is at most gamma.
above = bound > 100 * floor
fit = fit_rate(k[above], errors[above])
print(fit.describe())
assert fit.rate <= GAMMA * (1 + 1e-6)

# %% [markdown]
# ## A broken operator fails the same check
#
# Damping the update, $v \leftarrow \tfrac12 v + \tfrac12 Tv$, gives a contraction with modulus
# $(1 + \gamma)/2 > \gamma$: still convergent, but it cannot meet the $\gamma^k$ bound. A check
# that could not fail would not be worth running.

# %%
v = np.zeros(mdp.n_states)
damped = [np.abs(v - v_star).max()]
for _ in range(200):
    v = 0.5 * v + 0.5 * dp.bellman_optimality_operator(mdp, v)
    damped.append(np.abs(v - v_star).max())
damped_check = check_bound(damped, vi_contraction_bound(damped[0], GAMMA, np.arange(201)))
print(damped_check.describe())
assert not damped_check.holds
