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
# # Soft robustness is risk sensitivity
#
# A *soft-robust* MDP lets nature pick any next-state distribution $p$ but charges it a
# penalty $\lambda D(p, \bar p)$ (Zhang, Hu & Li, ICLR 2024):
#
# $$V(s) = \max_a\; r(s,a) + \gamma\,\sigma_{sa}(V), \qquad
#   \sigma_{sa}(V) = \min_{p\in\Delta}\; p\cdot V + \lambda D(p, \bar p_{sa}).$$
#
# A *risk-sensitive* MDP replaces the expectation of the next value by a convex risk measure
# $\sigma$.  Convex duality says the two are the same object: for the KL penalty,
# $\sigma$ is the entropic risk $-\tfrac1\beta\log\mathbb E_{\bar p}e^{-\beta V}$ with
# $\beta = 1/\lambda$.  Below: the two routes to the same number, the worst kernel as an
# exponential tilt, a case where the equivalence fails, and policy gradient on the paper's ring.
# `NB_QUICK=1` shrinks the runs.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from theory_rl.algorithms import rrmdp
from theory_rl.algorithms.robust import inner_rows
from theory_rl.bounds.mdp_constants import value_error_floor
from theory_rl.mdps.robust import Chi2Penalty, KLPenalty, TVPenalty
from theory_rl.mdps.soft_robust import EntropicRisk, risk_of, zhang_ring

QUICK = os.environ.get("NB_QUICK") == "1"
T = 400 if QUICK else 1000
ring = zhang_ring(0.15)  # the authors' "Toy-10" ring: 14 states, left/stay/right, slip p
print(ring.n_states, ring.n_actions, ring.gamma)

# %% [markdown]
# ## One row by hand
# For one next-state distribution and one value vector, the penalty's inner problem (the robust
# family's oracle) and the entropic risk (a log-sum-exp) agree, and the minimising $p$ is the
# exponential tilt $\bar p\,e^{-\beta v}$.

# %%
rng = np.random.default_rng(0)
p_bar = rng.dirichlet(np.ones(6))
v = rng.uniform(0, 10, 6)
beta = 0.8
value, worst = inner_rows(KLPenalty(1 / beta), p_bar[None], v[None])
entropic = -np.log(p_bar @ np.exp(-beta * v)) / beta
tilt = p_bar * np.exp(-beta * v)
tilt /= tilt.sum()
print(value[0], entropic)
assert abs(value[0] - entropic) < 1e-12
assert np.abs(worst[0] - tilt).max() < 1e-12

# %% [markdown]
# ## Two routes to the same value
# Route 1 iterates the soft-robust operator with the robust oracles; route 2 iterates the
# risk-sensitive operator with each risk measure's own formula (entropic risk for KL, the
# optimised-certainty-equivalent forms for TV and chi-square).

# %%
for pen in (KLPenalty(1.0), TVPenalty(1.0), Chi2Penalty(1.0)):
    a = rrmdp.soft_robust_value_iteration(ring, pen, rtol=1e-12)
    b = rrmdp.risk_sensitive_value_iteration(ring, risk_of(pen), rtol=1e-12)
    diff = np.abs(np.asarray(a.values) - b.values).max()
    print(f"{type(pen).__name__:12s} max |V_soft - V_risk| = {diff:.2e}")
    assert diff < 1e-9

# %% [markdown]
# The worst kernel at the optimum is the nominal kernel tilted away from high values:

# %%
res = rrmdp.soft_robust_value_iteration(ring, KLPenalty(1.0), rtol=1e-12)
V = np.asarray(res.values)
P_worst = res.params["worst_kernel"]
fig, ax = plt.subplots(figsize=(6, 2.5))
s, a = 8, 1  # stay in the state of reward 5, between two states of reward -10
ax.bar(np.arange(14) - 0.2, ring.transitions[s, a], width=0.4, label="nominal")
ax.bar(np.arange(14) + 0.2, P_worst[s, a], width=0.4, label="worst (tilt)")
ax.set_xlabel("next state")
ax.set_ylabel("probability")
ax.legend()
plt.show()
assert P_worst[s, a, 7] + P_worst[s, a, 9] > ring.transitions[s, a, 7] + ring.transitions[s, a, 9]

# %% [markdown]
# ## Where the equivalence needs its condition
# The paper takes the risk of the next state *given* the action and treats the policy's
# randomisation risk-neutrally.  Ruszczyński's Markov risk measure takes the risk of the joint
# law of (action, next state).  For a deterministic policy the two agree; for a randomising
# policy they do not, so that risk-sensitive MDP is not a soft-robust MDP with an
# (s, a)-rectangular penalty.

# %%
uniform = np.full((14, 3), 1 / 3)
deterministic = np.eye(3)[np.arange(14) % 3]
risk = EntropicRisk(1.0)
for name, pi in (("deterministic", deterministic), ("uniform", uniform)):
    soft = rrmdp.soft_robust_policy_evaluation(ring, KLPenalty(1.0), pi).values
    joint = rrmdp.risk_sensitive_value_iteration(
        ring, risk, policy=pi, nesting="joint", rtol=1e-12
    ).values
    print(f"{name:13s} max |V_soft - V_markov| = {np.abs(np.asarray(soft) - joint).max():.3g}")

# %% [markdown]
# ## Policy gradient on the ring
# The gradient is $d^\pi_{\rho,P^\pi}(s)Q^\pi(s,a)/(1-\gamma)$ with the occupancy under the
# *adversarial* kernel.  Projected gradient ascent (η = 0.1) for the paper's grid of slips p
# and risk levels β, all in one batched call:

# %%
pairs = [(p, b) for p in (0.01, 0.15) for b in (0.01, 0.1, 1.0, 2.0, 3.0)]
pg = rrmdp.soft_robust_policy_gradient(
    [zhang_ring(p) for p, _ in pairs],
    [KLPenalty(1 / b) for _, b in pairs],
    eta=0.1,
    n_iterations=T,
    record=("gap",),
)
gap = pg.history["gap"]
fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
for j, (p, b) in enumerate(pairs):
    ax = axes[0 if p == 0.01 else 1]
    ax.loglog(np.arange(1, T + 2), np.maximum(gap[j], 1e-14), label=f"beta = {b:g}")
    ax.set_title(f"p = {p:g}")
    ax.set_xlabel("iteration t + 1")
axes[0].set_ylabel("V*(rho) - V^pi_t(rho)")
axes[1].legend(fontsize=7)
plt.show()
floor = value_error_floor(ring)
assert np.all(np.diff(gap, axis=1) <= 2 * floor)  # monotone, up to round-off
print("final gaps:", np.abs(gap[:, -1]).max(), "round-off floor:", floor)
if not QUICK:
    assert np.abs(gap[:, -1]).max() <= floor  # global convergence (Theorem 4)
