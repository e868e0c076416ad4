"""Verdicts across versions: what changed between two ``verdicts.json`` reports.

:func:`compare_reports` (``theory-rl compare OLD NEW``, ``theory-rl verify --compare OLD``)
reports

* claims added or removed (claim ids present in one report only);
* verdicts added or removed within a claim present in both;
* verdicts flipped: ``holds`` true -> false (a *regression*) or false -> true;
* measured figures that moved: numeric entries of a verdict's ``metrics`` dict (numbers, the
  strings ``"inf"``/``"-inf"``/``"nan"`` that JSON carries for non-finite floats, lists of
  numbers compared element by element) with

      |new - old| > rtol * max(|old|, |new|) + atol,

  and numeric entries present in one verdict only.

Matching.  The verdicts of one claim are paired first by ``(claim_id, stated)`` (the k-th
verdict with a given statement in OLD with the k-th in NEW, as a claim may state the same
bound for several settings), then, among those left, by ``claim_id`` and position in the
claim's list of verdicts (a statement reworded between versions); a pair matched that way is
listed as *restated*.  Verdicts still unpaired are added or removed.

Tolerance.  :data:`DEFAULT_RTOL` = 1e-6.  Measured figures are float64 results of iterations
(errors, ratios to a bound, fitted rates); between machines and library versions they differ by
round-off (summation order with the SIMD width, the BLAS), amplified by the conditioning of what
is measured.  Measured on two regenerations of the committed ``paper_figures/verdicts.json``
that changed round-off only (git commit b2a1b39 against its parent, 31 verdicts): 19 numeric
metrics differ at all, 12 of them by less than 1e-9 relative, 17 by less than 1e-7 (the largest
7.0e-8, a median ratio of a fitted rate), and two by more than 1e-6: ``vi_contraction``'s
``worst_ratio`` (1.0000368 -> 1.0000445, 7.7e-6 relative) and ``pi_monotone``'s
``max_final_residual`` (2.8e-14 -> 4.3e-14, a round-off residual itself).  1e-6 therefore
passes over the round-off of 17 of these 19 figures and reports the two, while reporting a
change of the code that alters a figure in its sixth significant digit (an iteration count, a
step size, a constant).  Figures that are round-off by construction move by O(1) relative;
``atol`` (default 0: metrics have different units, so no absolute default fits all) hides them.
Moved figures are reported, never a failure: only a regression makes
:attr:`Comparison.regressions` non-empty (exit status 1 of the commands).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_RTOL",
    "Comparison",
    "Flip",
    "Move",
    "Restated",
    "VerdictKey",
    "compare_reports",
    "load_report",
    "validate_report",
]

#: Default relative tolerance on measured figures (see the module docstring for why).
DEFAULT_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class VerdictKey:
    """One verdict, named: its claim, its statement and whether it holds."""

    claim_id: str
    stated: str
    holds: bool


@dataclasses.dataclass(frozen=True)
class Flip:
    """A verdict whose ``holds`` changed; ``old_holds`` -> ``new_holds``."""

    claim_id: str
    stated: str
    old_holds: bool
    new_holds: bool
    old_measured: str
    new_measured: str


@dataclasses.dataclass(frozen=True)
class Move:
    """A measured figure ``metrics[metric]`` that moved; ``None`` where it is absent."""

    claim_id: str
    stated: str
    metric: str
    old: Any
    new: Any
    rel_change: float


@dataclasses.dataclass(frozen=True)
class Restated:
    """A verdict matched by position whose statement changed."""

    claim_id: str
    old_stated: str
    new_stated: str


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What changed from an OLD report to a NEW one (:func:`compare_reports`).

    Attributes:
        added_claims, removed_claims: claim ids in NEW only / OLD only.
        added_verdicts, removed_verdicts: verdicts of claims in both, unpaired.
        flipped: verdicts whose ``holds`` changed.
        moved: numeric metrics beyond the tolerance.
        restated: verdicts paired by position whose statement changed.
        n_compared: number of verdict pairs compared.
        rtol, atol: the tolerance used for ``moved``.
    """

    added_claims: tuple[str, ...]
    removed_claims: tuple[str, ...]
    added_verdicts: tuple[VerdictKey, ...]
    removed_verdicts: tuple[VerdictKey, ...]
    flipped: tuple[Flip, ...]
    moved: tuple[Move, ...]
    restated: tuple[Restated, ...]
    n_compared: int
    rtol: float
    atol: float

    @property
    def regressions(self) -> tuple[Flip, ...]:
        """Verdicts that held in OLD and fail in NEW."""
        return tuple(f for f in self.flipped if f.old_holds and not f.new_holds)

    @property
    def changed(self) -> bool:
        """Whether anything at all changed."""
        return any(
            (
                self.added_claims,
                self.removed_claims,
                self.added_verdicts,
                self.removed_verdicts,
                self.flipped,
                self.moved,
                self.restated,
            )
        )

    def format(self) -> str:
        """A plain-text account, one change per line, regressions first."""
        lines = [
            f"compared {self.n_compared} verdicts (figures: rtol={self.rtol:g}, "
            f"atol={self.atol:g})"
        ]

        def holds(h: bool) -> str:
            return "holds" if h else "FAILS"

        for f in sorted(self.flipped, key=lambda f: f.new_holds):
            tag = "REGRESSION" if f.old_holds and not f.new_holds else "fixed"
            lines.append(
                f"  {tag}: {f.claim_id} [{f.stated}] {holds(f.old_holds)} -> "
                f"{holds(f.new_holds)}; measured was: {f.old_measured}; now: {f.new_measured}"
            )
        for c in self.added_claims:
            lines.append(f"  claim added: {c}")
        for c in self.removed_claims:
            lines.append(f"  claim removed: {c}")
        for v in self.added_verdicts:
            lines.append(f"  verdict added: {v.claim_id} [{v.stated}] {holds(v.holds)}")
        for v in self.removed_verdicts:
            lines.append(f"  verdict removed: {v.claim_id} [{v.stated}] {holds(v.holds)}")
        for r in self.restated:
            lines.append(f"  restated: {r.claim_id} [{r.old_stated}] -> [{r.new_stated}]")
        for m in self.moved:
            rel = "" if math.isnan(m.rel_change) else f" (relative change {m.rel_change:.3g})"
            lines.append(
                f"  moved: {m.claim_id} [{m.stated}] {m.metric}: {_show(m.old)} -> "
                f"{_show(m.new)}{rel}"
            )
        if not self.changed:
            lines.append("  no change")
        else:
            lines.append(
                f"  {len(self.regressions)} regression(s), {len(self.flipped)} flipped, "
                f"{len(self.moved)} figure(s) moved, {len(self.added_claims)} claim(s) added, "
                f"{len(self.removed_claims)} removed"
            )
        return "\n".join(lines)


def _show(v: Any) -> str:
    if v is None:
        return "(absent)"
    if isinstance(v, float):
        return f"{v:.10g}"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed report at ``path``; ``ValueError`` naming the file and what is wrong."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read verdicts report {p}: {exc.strerror or exc}") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"verdicts report {p} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    validate_report(report, str(p))
    return report


def validate_report(report: Any, name: str) -> None:
    """``ValueError`` naming ``name`` unless ``report`` has the shape of ``verdicts.json``."""
    if not isinstance(report, Mapping) or not isinstance(report.get("verdicts"), list):
        raise ValueError(f"verdicts report {name} has no 'verdicts' list")
    for i, v in enumerate(report["verdicts"]):
        if not isinstance(v, Mapping):
            raise ValueError(f"verdicts report {name}: verdicts[{i}] is not an object")
        for field, kind in (("claim_id", str), ("stated", str), ("holds", bool)):
            if not isinstance(v.get(field), kind):
                raise ValueError(
                    f"verdicts report {name}: verdicts[{i}].{field} is missing or not a "
                    f"{kind.__name__}"
                )
        if not isinstance(v.get("metrics", {}), Mapping):
            raise ValueError(f"verdicts report {name}: verdicts[{i}].metrics is not an object")
    if not isinstance(report.get("claims", []), list):
        raise ValueError(f"verdicts report {name}: 'claims' is not a list")


def _number(x: Any) -> float | None:
    """``x`` as a float when it is a JSON number or a non-finite float's string, else None."""
    if isinstance(x, (bool, int, float)):
        return float(x)
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    return None


def _numeric(x: Any) -> float | list[float] | None:
    n = _number(x)
    if n is not None:
        return n
    if isinstance(x, list) and x and all(_number(e) is not None for e in x):
        return [_number(e) for e in x]  # type: ignore[misc]
    return None


def _rel(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale


def _moved(a: float, b: float, rtol: float, atol: float) -> bool:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return True
    return abs(a - b) > rtol * max(abs(a), abs(b)) + atol


def _compare_metrics(
    old: Mapping[str, Any], new: Mapping[str, Any], rtol: float, atol: float
) -> list[tuple[str, Any, Any, float]]:
    out = []
    for key in list(old) + [k for k in new if k not in old]:
        a = _numeric(old.get(key)) if key in old else None
        b = _numeric(new.get(key)) if key in new else None
        if a is None and b is None:
            continue  # not a numeric figure (or absent from both)
        if a is None or b is None:
            out.append((key, old.get(key) if a is not None else None,
                        new.get(key) if b is not None else None, math.nan))
            continue
        if isinstance(a, float) and isinstance(b, float):
            if _moved(a, b, rtol, atol):
                out.append((key, old[key], new[key], _rel(a, b)))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            if any(_moved(x, y, rtol, atol) for x, y in zip(a, b, strict=True)):
                out.append((key, old[key], new[key], max(_rel(x, y) for x, y in zip(a, b,
                                                                                  strict=True))))
        else:  # a number became a list or a list changed length
            out.append((key, old[key], new[key], math.nan))
    return out


def _by_claim(verdicts: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for v in verdicts:
        out.setdefault(v["claim_id"], []).append(v)
    return out


def _claim_ids(report: Mapping[str, Any]) -> list[str]:
    ids = [c["id"] for c in report.get("claims", []) if isinstance(c, Mapping) and "id" in c]
    for v in report["verdicts"]:
        if v["claim_id"] not in ids:
            ids.append(v["claim_id"])
    return ids


def _pair(
    old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Index pairs (by statement, then by position), unpaired old and new indices."""
    pairs: list[tuple[int, int]] = []
    free_new = list(range(len(new)))
    free_old = []
    for i, v in enumerate(old):
        j = next((j for j in free_new if new[j]["stated"] == v["stated"]), None)
        if j is None:
            free_old.append(i)
        else:
            free_new.remove(j)
            pairs.append((i, j))
    for i in list(free_old):
        if i in free_new:
            free_old.remove(i)
            free_new.remove(i)
            pairs.append((i, i))
    return sorted(pairs), free_old, free_new


def compare_reports(
    old: Mapping[str, Any] | str | os.PathLike[str],
    new: Mapping[str, Any] | str | os.PathLike[str],
    rtol: float = DEFAULT_RTOL,
    *,
    atol: float = 0.0,
    claims: Iterable[str] | None = None,
) -> Comparison:
    """What changed from report ``old`` to report ``new`` (parsed dicts or paths).

    ``claims`` restricts the comparison to these claim ids (a run of ``--only``/``--family``
    compared with a full baseline); by default every claim of either report is compared.
    ``ValueError`` for a malformed report (naming the file) or a negative tolerance.
    """
    if not (isinstance(rtol, (int, float)) and rtol >= 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    if not (isinstance(atol, (int, float)) and atol >= 0 and math.isfinite(atol)):
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    reports = []
    for name, r in (("old", old), ("new", new)):
        if isinstance(r, (str, os.PathLike)):
            reports.append(load_report(r))
        else:
            validate_report(r, f"<{name} report>")
            reports.append(r)
    old_r, new_r = reports
    scope = None if claims is None else set(claims)
    old_ids = [c for c in _claim_ids(old_r) if scope is None or c in scope]
    new_ids = [c for c in _claim_ids(new_r) if scope is None or c in scope]
    old_v, new_v = _by_claim(old_r["verdicts"]), _by_claim(new_r["verdicts"])

    added_v: list[VerdictKey] = []
    removed_v: list[VerdictKey] = []
    flipped: list[Flip] = []
    moved: list[Move] = []
    restated: list[Restated] = []
    n = 0
    for cid in [c for c in new_ids if c in old_ids]:
        o, w = old_v.get(cid, []), new_v.get(cid, [])
        pairs, free_old, free_new = _pair(o, w)
        removed_v += [VerdictKey(cid, o[i]["stated"], o[i]["holds"]) for i in free_old]
        added_v += [VerdictKey(cid, w[j]["stated"], w[j]["holds"]) for j in free_new]
        for i, j in pairs:
            a, b = o[i], w[j]
            n += 1
            if a["stated"] != b["stated"]:
                restated.append(Restated(cid, a["stated"], b["stated"]))
            if a["holds"] != b["holds"]:
                flipped.append(
                    Flip(
                        cid,
                        b["stated"],
                        a["holds"],
                        b["holds"],
                        str(a.get("measured", "")),
                        str(b.get("measured", "")),
                    )
                )
            for key, x, y, rel in _compare_metrics(
                a.get("metrics", {}), b.get("metrics", {}), rtol, atol
            ):
                moved.append(Move(cid, b["stated"], key, x, y, rel))
    return Comparison(
        added_claims=tuple(c for c in new_ids if c not in old_ids),
        removed_claims=tuple(c for c in old_ids if c not in new_ids),
        added_verdicts=tuple(added_v),
        removed_verdicts=tuple(removed_v),
        flipped=tuple(flipped),
        moved=tuple(moved),
        restated=tuple(restated),
        n_compared=n,
        rtol=float(rtol),
        atol=float(atol),
    )
