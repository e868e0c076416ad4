"""Policy mirror descent: Xiao's sublinear and linear rates, the gamma-rate with adaptive steps,
inexact and sampled evaluation, generalised (regularised) PMD, rates across step sizes."""
