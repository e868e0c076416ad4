"""Variance-reduced stochastic policy gradient (Fatkhullin et al. 2023): estimators, transport
identities, sample-complexity exponents, truncation bias, an illustrative tabular figure."""
