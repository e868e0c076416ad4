"""Distributional DP: categorical/quantile evaluation (Rowland et al. 2018; Dabney et al. 2018)
and stock-augmented return-distribution optimisation (a reconstruction of Pires et al. 2025,
checked against brute force)."""
