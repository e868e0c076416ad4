"""Array namespaces (NumPy on the CPU, CuPy on the GPU), device choice and seeding.

Generic vectorised code in this package is written against the namespace returned by
:func:`array_namespace` and runs unchanged on NumPy or CuPy.  CuPy is imported lazily: without
it (or without a GPU) a request for ``device="gpu"`` raises :class:`BackendUnavailableError`.

Randomness goes through :class:`numpy.random.Generator` only; :func:`as_generator` turns the
accepted seed forms into one, and :func:`spawn_seeds` derives reproducible child seeds.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "BackendUnavailableError",
    "array_namespace",
    "as_generator",
    "cumulative_sum",
    "cupy_available",
    "namespace_of",
    "resolve_device",
    "spawn_seeds",
    "to_device",
    "to_numpy",
]

DEVICES = ("cpu", "gpu")


class BackendUnavailableError(RuntimeError):
    """Raised when ``device="gpu"`` is requested but CuPy or a GPU is missing."""


@functools.cache
def _cupy() -> ModuleType | None:
    try:
        import cupy
    except ImportError:
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # CUDA driver missing or broken: CuPy imports but cannot run.
        return None
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    return _cupy() is not None


def _is_cupy_array(x: Any) -> bool:
    return type(x).__module__.split(".")[0] in ("cupy", "cupyx")


def resolve_device(device: str | None, *arrays: Any) -> str:
    """Return ``"cpu"`` or ``"gpu"``.

    ``device=None`` infers the device from ``arrays`` (GPU if any is a CuPy array).  An explicit
    device is checked: ``"gpu"`` raises :class:`BackendUnavailableError` without CuPy.
    """
    if device is None:
        device = "gpu" if any(_is_cupy_array(a) for a in arrays) else "cpu"
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "gpu" and not cupy_available():
        raise BackendUnavailableError(
            'device="gpu" needs CuPy and an NVIDIA GPU; install the extra theory_rl[gpu] '
            "(cupy-cuda13x, or cupy-cuda12x for CUDA 12) on a machine with a GPU"
        )
    return device


def array_namespace(device: str) -> ModuleType:
    """The array module for ``device``: :mod:`numpy` for ``"cpu"``, :mod:`cupy` for ``"gpu"``."""
    return _cupy() if resolve_device(device) == "gpu" else np


def namespace_of(*arrays: Any) -> ModuleType:
    """The array module of the inputs: :mod:`cupy` if any is a CuPy array, else the namespace
    of any other array-API array (``x.__array_namespace__()``, e.g. ``array_api_strict``, which
    the tests use to check the generic path), else :mod:`numpy`."""
    if any(_is_cupy_array(a) for a in arrays):
        return _cupy()
    for a in arrays:
        if not isinstance(a, (np.ndarray, np.generic)) and hasattr(a, "__array_namespace__"):
            return a.__array_namespace__()
    return np


def cumulative_sum(xp: ModuleType, x: Any, axis: int = -1) -> Any:
    """Cumulative sum along ``axis`` in the namespace ``xp``: ``cumsum`` of NumPy/CuPy (faster on
    fresh arrays; CuPy before 14 has no ``cumulative_sum``), else the array API standard's
    ``cumulative_sum``."""
    f = getattr(xp, "cumsum", None)
    return f(x, axis=axis) if f is not None else xp.cumulative_sum(x, axis=axis)


def to_numpy(x: Any) -> Any:
    """Copy a CuPy array (or sparse matrix) to the host; NumPy/SciPy inputs pass through."""
    if _is_cupy_array(x):
        return x.get()
    return x


#: cupyx.scipy.sparse stores indices and indptr as int32.
_CUPY_SPARSE_MAX = 2**31 - 1


def to_device(x: Any, device: str) -> Any:
    """Move a NumPy array or SciPy CSR matrix to ``device`` (no copy when already there)."""
    if device == "cpu":
        return to_numpy(x)
    if _is_cupy_array(x):
        return x
    import scipy.sparse as sp

    if sp.issparse(x) and max(x.nnz, *x.shape) > _CUPY_SPARSE_MAX:
        raise ValueError(
            f"transitions: a sparse matrix with shape {x.shape} and {x.nnz} stored entries is too "
            f"large for the GPU, whose sparse matrices have 32-bit indices (at most "
            f"{_CUPY_SPARSE_MAX} entries and rows)"
        )
    cp = array_namespace("gpu")
    if sp.issparse(x):
        import cupyx.scipy.sparse as csp

        return csp.csr_matrix(x)
    return cp.asarray(x)


def as_generator(
    seed: int | np.random.SeedSequence | np.random.Generator | None,
) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from an int, a SeedSequence, a Generator or None.

    A Generator is returned as is (so a caller's stream continues); legacy ``RandomState`` is
    rejected because its streams differ from the Generator's.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise ValueError(
        "seed must be an int, a numpy.random.SeedSequence, a numpy.random.Generator or None, "
        f"got {type(seed).__name__}"
    )


def spawn_seeds(seed: int | np.random.SeedSequence | None, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed``; each keeps its ``spawn_key`` for the record."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)
