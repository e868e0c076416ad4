"""The registered claims, discovered from :mod:`theory_rl.experiments.claims` and from other
installed packages.

A claim is a module ``theory_rl.experiments.claims.<family>.<name>`` exposing ``CLAIM`` (see
:mod:`theory_rl.experiments.base` for the rest of its interface).  Modules whose name starts
with ``_`` (a family's shared code) are skipped, and so is any module without ``CLAIM``.

**Claims from other packages.**  A distribution registers claims through the entry-point group
:data:`ENTRY_POINT_GROUP` (``theory_rl.claims``); each entry point's name is a family and its
value names a package whose modules are claim modules (the same rules as above) or a single
claim module, e.g. in the package's ``pyproject.toml``::

    [project.entry-points."theory_rl.claims"]
    mypkg = "mypkg.claims"

``theory-rl list`` then shows the family ``mypkg`` and ``theory-rl verify --family mypkg`` runs
it with the same sweep, cache, executors and figures as the built-in claims (process and Dask
workers import the module by name, so it must be importable there too).  A family name used
twice, or one that is also a built-in family, and an entry point that fails to import or names
no claim raise :class:`ClaimRegistrationError` naming the entry point and its distribution.

Order (the order of ``theory-rl list`` and ``verify``): built-in families first --
:data:`FAMILY_ORDER`, in that order, then any other built-in family alphabetically -- then the
families from entry points alphabetically; within a family, modules alphabetically.  Modules are
imported on first use and the result is cached.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import pkgutil
from types import ModuleType

__all__ = [
    "CLAIMS_PACKAGE",
    "ENTRY_POINT_GROUP",
    "FAMILY_ORDER",
    "ClaimRegistrationError",
    "all_claims",
    "claim_ids",
    "claims_by_family",
    "discover",
    "discover_entry_points",
    "families",
    "family_of",
    "get_claim",
]

CLAIMS_PACKAGE = "theory_rl.experiments.claims"
#: Entry-point group through which other distributions register claim families.
ENTRY_POINT_GROUP = "theory_rl.claims"
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


class ClaimRegistrationError(RuntimeError):
    """A claim family registered through :data:`ENTRY_POINT_GROUP` cannot be loaded."""


def _entry_point_text(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" of distribution {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {ep.name!r} = {ep.value!r} in group {ep.group!r}{origin}"


def _claims_under(path: str) -> tuple[ModuleType, ...]:
    """Claim modules of package ``path`` (its non-``_`` modules), or ``path`` itself."""
    root = importlib.import_module(path)
    if not hasattr(root, "__path__"):  # a single module
        module = _load(path)
        return () if module is None else (module,)
    loaded = [_load(f"{path}.{name}") for name in _modules(root)]
    return tuple(m for m in loaded if m is not None)


def discover_entry_points(
    group: str = ENTRY_POINT_GROUP, *, reserved: tuple[str, ...] = ()
) -> tuple[tuple[str, tuple[ModuleType, ...]], ...]:
    """``((family, claim modules), ...)`` registered by other distributions (uncached).

    Args:
        group: the entry-point group.
        reserved: family names already taken (the built-in families).

    Raises:
        ClaimRegistrationError: naming the entry point and its distribution, when a family name
            is taken or registered twice, the target does not import or is not a complete claim
            module, or it holds no claim.
    """
    eps = sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name)
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    out = []
    for ep in eps:
        if ep.name in reserved:
            raise ClaimRegistrationError(
                f"{_entry_point_text(ep)}: family {ep.name!r} is a built-in family; "
                "register the claims under another name"
            )
        if ep.name in seen:
            raise ClaimRegistrationError(
                f"{_entry_point_text(ep)}: family {ep.name!r} is registered twice (also "
                f"{_entry_point_text(seen[ep.name])})"
            )
        seen[ep.name] = ep
        if ep.attr:
            raise ClaimRegistrationError(
                f"{_entry_point_text(ep)}: the value must name a module or package "
                "(no ':attribute')"
            )
        try:
            modules = _claims_under(ep.module)
        except Exception as exc:
            raise ClaimRegistrationError(
                f"{_entry_point_text(ep)} cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        if not modules:
            raise ClaimRegistrationError(
                f"{_entry_point_text(ep)}: {ep.module} holds no claim module (a module "
                "exposing CLAIM, GRID, QUICK_GRID, compute, plot, check)"
            )
        out.append((ep.name, modules))
    return tuple(out)


@functools.cache
def _discover() -> tuple[tuple[str, tuple[ModuleType, ...]], ...]:
    builtin = discover(CLAIMS_PACKAGE)
    return builtin + discover_entry_points(reserved=tuple(f for f, _ in builtin))


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
