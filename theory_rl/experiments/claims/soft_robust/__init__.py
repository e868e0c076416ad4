"""Soft (regularised) robust MDPs, risk-sensitive MDPs, their policy gradient, RFZI and R2 MDPs
(Zhang, Hu & Li 2024; Derman, Geist & Mannor 2021)."""
