"""Optimistic actor-critic (a reconstruction of Tan, Fan & Wei 2025) and the exploration
baselines: regret exponent and switch counts, optimism and hybrid data on the combination lock,
synchronous Q-learning's rate."""
