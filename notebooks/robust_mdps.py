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
# # Robust MDPs and the static adversary
#
# A robust MDP lets nature choose the transition kernel inside an uncertainty set $U$ around
# the nominal kernel $\bar P$; the agent maximises its worst-case return
# $\max_\pi \min_{P \in U} V^\pi_P$.  With an **(s,a)-rectangular** set (each row chosen
# independently) robust dynamic programming works:
#
# $$ (Tv)(s) = \max_a \; r(s,a) + \gamma \min_{p \in U_{sa}} p \cdot v .$$
#
# This notebook draws the inner L1 problem, runs robust value iteration, shows why IWOCS's
# minimum over *static* kernels works under rectangularity, and where it stalls.
# `NB_QUICK=1` shrinks the problems.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linprog

from theory_rl.algorithms import dp, iwocs, robust
from theory_rl.mdps import TabularMDP, garnet
from theory_rl.mdps.robust import KernelSet, L1Ball, windy_walk

QUICK = os.environ.get("NB_QUICK") == "1"

# %% [markdown]
# ## The inner L1 problem, as a picture
#
# Three next states, nominal row $\bar p$ and values $y$.  The adversary may move the row
# anywhere in the simplex within L1 distance $\kappa$ of $\bar p$; it minimises $p\cdot y$.
# The sort-based rule moves $\varepsilon = \min(\kappa/2, 1 - \bar p_{\arg\min y})$ of mass
# onto the worst next state, taken from the best ones first.

# %%
pb = np.array([0.3, 0.5, 0.2])
y = np.array([0.0, 1.0, 2.0])
kappa = 0.4
value, worst = robust.inner_rows(L1Ball(kappa), pb[None], y)
print("worst row", worst[0], "value", value[0], "nominal", pb @ y)


def simplex_xy(p):
    """Barycentric coordinates of a distribution over 3 states in the plane."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    return np.asarray(p) @ corners


grid = np.random.default_rng(0).dirichlet(np.ones(3), size=4000)
inside = np.abs(grid - pb).sum(axis=1) <= kappa
fig, ax = plt.subplots(figsize=(4, 3.5))
xy = simplex_xy(grid)
ax.scatter(*xy[~inside].T, s=1, color="0.85", label="simplex")
ax.scatter(*xy[inside].T, s=2, c=grid[inside] @ y, cmap="viridis", label="L1 ball (colour: p.y)")
ax.plot(*simplex_xy(pb), "ko", label="nominal row")
ax.plot(*simplex_xy(worst[0]), "r*", ms=12, label="worst row (sort rule)")
ax.set_axis_off()
ax.legend(fontsize=7, loc="upper right")
plt.show()

# %%
# the rule equals the linear program over the ball
n = 3
eye = np.eye(n)
lp = linprog(
    np.concatenate([y, np.zeros(n)]),
    A_ub=np.vstack(
        [np.hstack([eye, -eye]), np.hstack([-eye, -eye]), np.r_[np.zeros(n), np.ones(n)]]
    ),
    b_ub=np.concatenate([pb, -pb, [kappa]]),
    A_eq=np.r_[np.ones(n), np.zeros(n)][None],
    b_eq=[1.0],
    bounds=[(0, None)] * (2 * n),
    method="highs",
)
assert abs(lp.fun - value[0]) < 1e-9

# %% [markdown]
# ## Robust value iteration
#
# The robust operator is a $\gamma$-contraction, so robust VI converges geometrically; its
# span stopping rule certifies that the greedy policy is $\epsilon$-optimal *against its worst
# kernel*.  Larger balls give smaller values; radius 0 is plain value iteration.

# %%
S = 15 if QUICK else 60
mdp = garnet(S, 4, 4, gamma=0.9, seed=1)
radii = [0.0, 0.1, 0.3, 0.6, 1.0]
values = [robust.robust_value_iteration(mdp, L1Ball(k), tol=1e-9).values for k in radii]
assert np.allclose(values[0], dp.value_iteration(mdp, tol=1e-9).values, atol=1e-8)
assert all(np.all(b <= a + 1e-9) for a, b in zip(values[:-1], values[1:], strict=True))
plt.plot(radii, [v.mean() for v in values], "o-")
plt.xlabel("L1 radius kappa")
plt.ylabel("mean robust value")
plt.show()

# %% [markdown]
# ## Why the static adversary is enough (rectangular sets)
#
# For a *fixed* stationary policy the worst dynamic adversary is a static kernel (Iyengar
# 2005), and for (s,a)-rectangular sets the game has a saddle point:
# $\max_\pi\min_P V^\pi_P = \min_P\max_\pi V^\pi_P$.  So the robust value is the smallest
# optimal value over static MDPs.  Brute force on a finite set confirms it.

# %%
rng = np.random.default_rng(3)
K = rng.dirichlet(np.ones(3), size=(2, 3, 2))
small = TabularMDP(K[0], rng.uniform(size=(3, 2)), 0.8)
hull = KernelSet(list(K))
rvi = robust.robust_value_iteration(small, hull, tol=1e-11)
best = np.full(3, np.inf)
for choice in np.ndindex(*(2,) * 6):
    P = K[np.array(choice), np.repeat(np.arange(3), 2), np.tile(np.arange(2), 3)]
    best = np.minimum(
        best, dp.policy_iteration(TabularMDP(P.reshape(3, 2, 3), small.rewards, 0.8)).values
    )
print("robust VI", rvi.values, "min over the 64 static kernels", best)
assert np.allclose(rvi.values, best, atol=1e-9)

# %% [markdown]
# ## IWOCS: a sequence of static problems
#
# IWOCS (Zouitine, Geist & Rachelson) solves the static MDP of each kernel found so far,
# takes $Q_i = \min_j Q^*_{T_j}$ and its greedy policy $\pi_i$, then searches the worst kernel
# for $\pi_i$.  With an exact search and a rectangular set,
# $V^{\pi_i}_{T_{i+1}}(s_0) \le V^* (s_0) \le Q_i(s_0, \pi_i(s_0))$: the stopping gap is a
# certificate.  On the (reconstructed) windy walk it certifies the robust value in two
# iterations.

# %%
walk, winds = windy_walk()
res = iwocs(walk, winds, tol=1e-6)
v_star = robust.robust_value_iteration(walk, winds, tol=1e-10).values[0]
print(res.params["status"], res.n_iterations, res.history["lower"], res.history["upper"], v_star)
assert res.params["status"] == "certified"
assert np.all(res.history["lower"] <= v_star + 1e-9)
assert np.all(v_star <= res.history["upper"] + 1e-9)

# %% [markdown]
# ## Where it stalls
#
# The worst kernel for $\pi_i$ is not unique off the actions $\pi_i$ plays.  If the search
# keeps the nominal rows there (an equally valid argmin of $V^{\pi_i}_T(s_0)$), the next
# kernel can already be in the set: $Q_{i+1} = Q_i$ and IWOCS stops without closing the gap.
# The paper calls the kernel choice a heuristic; here is a pinned instance.

# %%
rng = np.random.default_rng(1)
S2, A2, m2 = int(rng.integers(3, 9)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
K2 = rng.dirichlet(np.ones(S2), size=(m2, S2, A2))
inst = TabularMDP(K2[0], rng.uniform(size=(S2, A2)), 0.9, np.eye(S2)[0])
kset = KernelSet(list(K2))
played = iwocs(inst, kset, tol=1e-8, tie_break="played_actions")
every = iwocs(inst, kset, tol=1e-8, tie_break="all_actions")
print("played actions:", played.params["status"], "gap", played.history["gap"][-1])
print("all actions:   ", every.params["status"], "gap", every.history["gap"][-1])
assert played.params["status"] == "stalled" and every.params["status"] == "certified"
