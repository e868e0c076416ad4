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
# # Policy mirror descent from scratch
#
# Policy mirror descent (PMD) improves a policy state by state:
#
# $$\pi^{k+1}_s = \arg\max_{p \in \Delta(A)} \; \eta_k \langle Q^{\pi_k}(s, \cdot), p\rangle
#   - D(p, \pi^k_s).$$
#
# With the KL divergence the step is a multiplicative-weights update; with the squared
# Euclidean distance it is a projected Q-ascent.  We write both by hand, compare them with
# `theory_rl.algorithms.pmd.pmd_step`, then run the three step-size schedules and check the
# convergence bounds of Xiao (2022) and Johnson, Pike-Burke & Rebeschini (2023) at every
# iterate.  `NB_QUICK=1` shrinks the problems.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from theory_rl.algorithms import dp, pmd
from theory_rl.bounds import johnson2023, mdp_constants, xiao2022
from theory_rl.mdps.generators import random_mdp

QUICK = os.environ.get("NB_QUICK") == "1"
S, A, K = (8, 3, 60) if QUICK else (30, 4, 200)
mdp = random_mdp(S, A, gamma=0.9, seed=0)
gamma = mdp.gamma

# %% [markdown]
# ## The KL step: $\pi' \propto \pi\, e^{\eta q}$

# %%
rng = np.random.default_rng(1)
pi = rng.dirichlet(np.ones(A), size=S)
q = dp.q_values(mdp, dp.policy_evaluation(mdp, pi))
eta = 0.5
by_hand = pi * np.exp(eta * q)
by_hand /= by_hand.sum(axis=1, keepdims=True)
assert np.allclose(pmd.pmd_step(pi, q, eta=eta, mirror="kl"), by_hand, rtol=1e-12)

# %% [markdown]
# ## The Euclidean step: $\pi' = \mathrm{Proj}_\Delta(\pi + \eta q)$
# The exact projection sorts each row: with $u$ sorted decreasingly and
# $k = \max\{j: u_j > (\sum_{i\le j} u_i - 1)/j\}$, subtract $\theta = (\sum_{i\le k}u_i-1)/k$
# and clip at zero.


# %%
def project(x):
    u = np.sort(x)[::-1]
    css = np.cumsum(u) - 1
    k = np.nonzero(u - css / np.arange(1, x.size + 1) > 0)[0][-1] + 1
    return np.maximum(x - css[k - 1] / k, 0)


by_hand = np.array([project(row) for row in pi + eta * q])
assert np.allclose(pmd.pmd_step(pi, q, eta=eta, mirror="euclidean"), by_hand, atol=1e-12)

# %% [markdown]
# ## Three step-size schedules
# * constant $\eta_k = \eta$ (Xiao Thm 8: $O(1/k)$),
# * geometric $\eta_k = \eta_0/\gamma^k$ (Xiao Thm 10: linear rate $1 - 1/\vartheta_\rho$),
# * adaptive $\eta_k \ge \|\min_{p\in G_k} D(p, \pi^k)\|_\infty / c_k$ (Johnson et al.: rate
#   $\gamma$).

# %%
runs = {
    "constant": pmd.policy_mirror_descent(mdp, eta=1.0, n_iterations=K),
    "geometric": pmd.policy_mirror_descent(
        mdp, eta=(1 - gamma) / gamma * np.log(A), schedule="geometric", n_iterations=K
    ),
    "adaptive": pmd.policy_mirror_descent(mdp, eta=0.0, schedule="adaptive", n_iterations=K),
}
k = np.arange(K + 1)
fig, ax = plt.subplots(figsize=(4, 3))
for name, res in runs.items():
    ax.semilogy(k, np.maximum(res.history["gap"], 1e-16), label=name)
ax.set_xlabel("iteration k")
ax.set_ylabel(r"$V^*(\rho) - V^k(\rho)$")
ax.legend()

# %% [markdown]
# ## The bounds, at every iterate
# Round-off allowance: `value_error_floor` (a worst-case bound on the error of two computed
# value vectors) and a relative `1e-9` on the bound.

# %%
atol = mdp_constants.value_error_floor(mdp) + 1e-12
d0 = np.log(A)  # KL from the uniform policy to a deterministic optimal policy

res = runs["constant"]
assert np.isclose(res.history["divergence_to_opt"][0], d0)
bound8 = xiao2022.thm8_bound(k, gamma=gamma, eta=1.0, d0=d0)
assert np.all(res.history["gap"] <= bound8 * (1 + 1e-9) + atol)

theta = mdp_constants.vartheta_rho(mdp)
eta0 = (1 - gamma) / gamma * d0
res = runs["geometric"]
bound10 = xiao2022.thm10_bound(
    k, gamma=gamma, vartheta=theta, gap0=res.history["gap"][0], d0=d0, eta0=eta0
)
assert np.all(res.history["gap"] <= bound10 * (1 + 1e-9) + atol)

res = runs["adaptive"]
sup = res.history["sup_gap"]
boundJ = johnson2023.adaptive_bound(
    k, gamma=gamma, sup_gap0=sup[0], c=johnson2023.c_schedule(1.0, gamma, K)
)
assert np.all(sup <= boundJ * (1 + 1e-9) + atol)
print(f"vartheta_rho = {theta:.3f}, Thm 10 rate {1 - 1 / theta:.3f}, gamma = {gamma}")
print(
    "worst ratios:",
    (runs["constant"].history["gap"] / bound8).max(),
    (runs["geometric"].history["gap"] / bound10).max(),
    (sup[1:] / boundJ[1:]).max(),
)

# %% [markdown]
# ## Both mirror maps, many step sizes in one call
# A `(B,)` array of step sizes runs as one batched computation.

# %%
etas = np.logspace(-2, 2, 5)
for mirror in ("kl", "euclidean"):
    batch = pmd.policy_mirror_descent(mdp, eta=etas, mirror=mirror, n_iterations=K)
    d0 = batch.history["divergence_to_opt"][:, 0]
    for i, e in enumerate(etas):
        b = xiao2022.thm8_bound(k, gamma=gamma, eta=e, d0=d0[i])
        assert np.all(batch.history["gap"][i] <= b * (1 + 1e-9) + atol)
