"""Claims checked by measurement, their sweeps, figures, and the ``theory-rl`` command.

One module per claim under :mod:`theory_rl.experiments.claims` (``claims/<family>/<id>.py``;
the interface is in :mod:`theory_rl.experiments.base`), discovered by
:mod:`theory_rl.experiments.registry`; :mod:`theory_rl.experiments.sweep` runs grids on any
``concurrent.futures`` executor (local processes or Dask); :mod:`theory_rl.experiments.plotting`
holds the figure conventions; :mod:`theory_rl.experiments.cli` is ``theory-rl``.

This package's ``__init__`` imports nothing heavy: sweep workers are started before they import
numpy, so that their thread settings apply.
"""
