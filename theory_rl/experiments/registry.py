"""The registered claims, discovered from :mod:`theory_rl.experiments.claims`.

A claim is a module ``theory_rl.experiments.claims.<family>.<name>`` exposing ``CLAIM`` (see
:mod:`theory_rl.experiments.base` for the rest of its interface).  Modules whose name starts
with ``_`` (a family's shared code) are skipped, and so is any module without ``CLAIM``.

Order (the order of ``theory-rl list`` and ``verify``): families :data:`FAMILY_ORDER` first, in
that order, then any other family alphabetically; within a family, modules alphabetically.
Modules are imported on first use and the result is cached.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

__all__ = [
    "CLAIMS_PACKAGE",
    "FAMILY_ORDER",
    "all_claims",
    "claim_ids",
    "claims_by_family",
    "discover",
    "families",
    "family_of",
    "get_claim",
]

CLAIMS_PACKAGE = "theory_rl.experiments.claims"
#: Families listed first, in this order; other families follow alphabetically.
FAMILY_ORDER: tuple[str, ...] = ("dp", "pmd", "npg", "pg", "nash")

_REQUIRED = ("CLAIM", "GRID", "QUICK_GRID", "compute", "plot", "check")


def _family_key(name: str) -> tuple[int, str]:
    return (FAMILY_ORDER.index(name), "") if name in FAMILY_ORDER else (len(FAMILY_ORDER), name)


def _subpackages(package: ModuleType) -> list[str]:
    return [m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg]


def _modules(package: ModuleType) -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg]
    return sorted(n for n in names if not n.startswith("_"))


def _load(path: str) -> ModuleType | None:
    """The claim module at ``path``; None when it has no ``CLAIM``; TypeError when incomplete."""
    module = importlib.import_module(path)
    if not hasattr(module, "CLAIM"):
        return None
    missing = [name for name in _REQUIRED if not hasattr(module, name)]
    if missing:
        raise TypeError(f"claim module {path} lacks {', '.join(missing)}")
    return module


def discover(package: str = CLAIMS_PACKAGE) -> tuple[tuple[str, tuple[ModuleType, ...]], ...]:
    """``((family, claim modules), ...)`` under ``package``, in registry order (uncached).

    Each subpackage of ``package`` is a family; each of its modules not starting with ``_`` and
    exposing ``CLAIM`` is a claim (``TypeError`` when such a module lacks the rest of the
    interface).  Families without claims are left out.
    """
    root = importlib.import_module(package)
    out = []
    for family in sorted(_subpackages(root), key=_family_key):
        sub = importlib.import_module(f"{package}.{family}")
        loaded = [_load(f"{package}.{family}.{name}") for name in _modules(sub)]
        modules = tuple(m for m in loaded if m is not None)
        if modules:
            out.append((family, modules))
    return tuple(out)


@functools.cache
def _discover() -> tuple[tuple[str, tuple[ModuleType, ...]], ...]:
    return discover(CLAIMS_PACKAGE)


def claims_by_family() -> dict[str, dict[str, ModuleType]]:
    """``{family: {claim id: module}}`` in registry order (families without claims left out)."""
    ids = [m.CLAIM.id for _, mods in _discover() for m in mods]
    if len(ids) != len(set(ids)):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"two registered claim modules share a CLAIM.id: {', '.join(dup)}")
    return {family: {m.CLAIM.id: m for m in mods} for family, mods in _discover()}


def all_claims() -> dict[str, ModuleType]:
    """``{claim id: module}`` for every registered claim, in registry order."""
    return {cid: m for claims in claims_by_family().values() for cid, m in claims.items()}


def families() -> list[str]:
    """The families that hold at least one claim, in registry order."""
    return list(claims_by_family())


def family_of(claim_id: str) -> str:
    """The family of claim ``claim_id``; ``KeyError`` naming the known ids otherwise."""
    for family, claims in claims_by_family().items():
        if claim_id in claims:
            return family
    raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(all_claims())}")


def claim_ids() -> list[str]:
    """The registered claim ids, in registry order."""
    return list(all_claims())


def get_claim(claim_id: str) -> ModuleType:
    """The module of claim ``claim_id``; ``KeyError`` naming the known ids otherwise."""
    claims = all_claims()
    try:
        return claims[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(claims)}") from None
