"""``theory-rl``: list, verify and reproduce the registered claims.

Commands::

    theory-rl list
    theory-rl verify [--quick] [--only ID ...] [--family FAMILY ...] [--out DIR]
                     [--executor SPEC] [--workers N] [--cache DIR] [--seed N]
                     [--compare OLD.json [--compare-rtol R] [--compare-atol A]]
    theory-rl reproduce ID [--out DIR] [--executor SPEC] [--workers N] [--cache DIR] [--seed N]
    theory-rl replot ID [--out DIR]
    theory-rl report VERDICTS.json [--html FILE]
    theory-rl compare OLD.json NEW.json [--rtol R] [--atol A]

``list`` prints the claims grouped by family (``theory_rl/experiments/claims/<family>/``, then
the families other packages register through the ``theory_rl.claims`` entry-point group, see
:mod:`theory_rl.experiments.registry`; a broken one stops every command with status 2 and a
message naming the entry point).
``verify`` runs every claim, or those of ``--only`` / ``--family`` (its ``QUICK_GRID`` with
``--quick``, else its ``GRID``), prints a table (claim, paper/theorem, stated, measured,
verdict), and writes to ``--out``: ``verdicts.json``, and per claim ``<id>.png``, ``<id>.pdf``
(byte-stable metadata) and its tidy data ``<id>.parquet``, then ``report.html``, the whole report
on one self-contained page (:mod:`theory_rl.experiments.report`).  ``verdicts.json`` holds
``theory_rl_version``, ``all_hold``, ``claims`` (one record per claim: id, family, paper,
theorem, statement, caption, grid, n_configs, seed, files), ``verdicts`` and ``run`` (the
settings of the last run: version, git commit, machine, grid, seed, wall time, date).  It exits
with status 1 when a claim fails or errors, 0 when all hold.  ``reproduce ID`` is ``verify
--only ID`` at full size.  ``replot ID`` redraws a figure from its saved data without
re-running anything; ``report VERDICTS.json`` rewrites the page from a report and its figures.

``verify --compare OLD.json`` also prints what changed against a baseline report (claims added
or removed, verdicts flipped, measured figures moved beyond ``--compare-rtol``; see
:mod:`theory_rl.experiments.compare`), restricted to the selected claims when ``--only`` or
``--family`` is given, and exits with status 1 when a verdict that held in the baseline fails.
``compare OLD.json NEW.json`` does the same for two existing reports (status 1 on such a
regression).  An unreadable or malformed report is a usage error (status 2) naming the file.

``--out`` defaults to ``./theory_rl_results`` (ignored by git), not to the committed
``paper_figures/``: measured iteration counts and ratios depend on floating-point round-off,
which differs between machines (SIMD width, BLAS), so a run elsewhere reproduces the verdicts but
not the files bit for bit.  Maintainers regenerate the committed figures explicitly with
``theory-rl verify --quick --out paper_figures``.

``--executor``: ``local`` (default; a process pool of ``--workers`` processes, each pinned to
one numba/BLAS thread; ``--workers 1`` runs in this process), ``serial``, ``dask`` (a Dask
LocalCluster) or ``tcp://HOST:PORT`` (an existing Dask scheduler).  ``--cache DIR`` keeps the
sweep's parts so an interrupted run resumes; by default parts go to a temporary
directory and every run recomputes.  Ctrl-C stops a run with status 130 and a one-line message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["main"]

#: Default output directory, relative to the working directory (see the module docstring).
DEFAULT_OUT = "theory_rl_results"
COLUMNS = (("claim", 16), ("paper / theorem", 30), ("stated", 38), ("measured", 38), ("", 5))


def _parser() -> argparse.ArgumentParser:
    import theory_rl

    p = argparse.ArgumentParser(
        prog="theory-rl",
        description="Check, by measurement, that the papers' stated results hold.",
    )
    p.add_argument("--version", action="version", version=f"theory_rl {theory_rl.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered claims")

    def compare_tolerances(q: argparse.ArgumentParser, prefix: str) -> None:
        from theory_rl.experiments.compare import DEFAULT_RTOL

        q.add_argument(
            f"{prefix}rtol", type=float, default=DEFAULT_RTOL, dest="rtol",
            help="relative tolerance on measured figures (%(default)g; why: "
            "theory_rl.experiments.compare)",
        )
        q.add_argument(
            f"{prefix}atol", type=float, default=0.0, dest="atol",
            help="absolute tolerance on measured figures (%(default)g)",
        )

    def run_options(q: argparse.ArgumentParser) -> None:
        q.add_argument("--out", default=DEFAULT_OUT, help="output directory (%(default)s)")
        q.add_argument(
            "--executor",
            default="local",
            help="local | serial | dask | tcp://HOST:PORT (default %(default)s)",
        )
        q.add_argument("--workers", type=int, default=None, help="local/dask workers (2)")
        q.add_argument("--cache", default=None, help="keep sweep parts here (resumable)")
        q.add_argument("--seed", type=int, default=0, help="root seed (%(default)s)")

    v = sub.add_parser("verify", help="run the claims and write figures and verdicts")
    v.add_argument("--quick", action="store_true", help="use each claim's QUICK_GRID")
    v.add_argument("--only", nargs="+", metavar="ID", help="run only these claims")
    v.add_argument(
        "--family", nargs="+", metavar="FAMILY", help="run only the claims of these families"
    )
    run_options(v)
    v.add_argument(
        "--compare", metavar="OLD.json", default=None,
        help="print what changed against this baseline verdicts.json",
    )
    compare_tolerances(v, "--compare-")
    r = sub.add_parser("reproduce", help="run one claim at full size")
    r.add_argument("claim", metavar="ID")
    run_options(r)
    rp = sub.add_parser("replot", help="redraw a figure from its saved data")
    rp.add_argument("claim", metavar="ID")
    rp.add_argument("--out", default=DEFAULT_OUT, help="output directory (%(default)s)")
    rep = sub.add_parser("report", help="rewrite report.html from a verdicts.json")
    rep.add_argument("verdicts", metavar="VERDICTS.json")
    rep.add_argument("--html", default=None, help="page to write (report.html beside it)")
    c = sub.add_parser("compare", help="what changed between two verdicts.json reports")
    c.add_argument("old", metavar="OLD.json")
    c.add_argument("new", metavar="NEW.json")
    compare_tolerances(c, "--")
    return p


def _table(rows: list[tuple[str, ...]]) -> str:
    """A plain-text table whose cells wrap within fixed column widths."""
    widths = [w for _, w in COLUMNS]
    widths[0] = max(widths[0], *(len(row[0]) for row in rows))  # claim ids are never wrapped
    lines = []

    def emit(cells: tuple[str, ...]) -> None:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths, strict=True)]
        for i in range(max(map(len, wrapped))):
            parts = [
                (col[i] if i < len(col) else "").ljust(w)
                for col, w in zip(wrapped, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())

    emit(tuple(name for name, _ in COLUMNS))
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        emit(row)
    return "\n".join(lines)


def _cmd_list() -> int:
    from theory_rl.experiments.registry import claims_by_family

    rows = []
    for family, claims in claims_by_family().items():
        rows.append((f"[{family}]", "", "", "", ""))
        for cid, m in claims.items():
            c = m.CLAIM
            rows.append(
                (
                    cid,
                    f"{c.paper}, {c.theorem}",
                    c.statement,
                    f"{len(m.QUICK_GRID)}/{len(m.GRID)} cfgs",
                    "",
                )
            )
    print(_table(rows))
    print("\n(claims grouped by [family]; measured column: configurations in QUICK_GRID / GRID)")
    return 0


def _select(ids: list[str] | None, families: list[str] | None) -> dict[str, Any] | str:
    """The claims to run (registry order), or an error message naming the known ones."""
    from theory_rl.experiments.registry import claims_by_family

    grouped = claims_by_family()
    registered = {cid: m for claims in grouped.values() for cid, m in claims.items()}
    selected = dict(registered)
    if families:
        unknown = [f for f in families if f not in grouped]
        if unknown:
            return f"unknown family: {', '.join(unknown)}; known families: {', '.join(grouped)}"
        selected = {cid: m for f in families for cid, m in grouped[f].items()}
        selected = {cid: m for cid, m in registered.items() if cid in selected}
    if ids:
        unknown = [i for i in ids if i not in registered]
        if unknown:
            return f"unknown claim(s): {', '.join(unknown)}; known: {', '.join(registered)}"
        outside = [i for i in ids if i not in selected]
        if outside:
            return f"claim(s) {', '.join(outside)} not in family {', '.join(families or [])}"
        selected = {i: registered[i] for i in ids}
    return selected


def _error_verdict(module: Any, exc: BaseException) -> Any:
    from theory_rl.bounds.rates import Verdict

    c = module.CLAIM
    tb = "".join(traceback.format_exception(exc))
    return Verdict(
        claim_id=c.id,
        paper=c.paper,
        theorem=c.theorem,
        stated=c.statement,
        measured=f"ERROR {type(exc).__name__}",
        holds=False,
        detail=tb,
    )


def _run_claims(
    ids: list[str] | None,
    *,
    families: list[str] | None = None,
    quick: bool,
    out: Path,
    executor_spec: str,
    workers: int | None,
    cache: str | None,
    seed: int,
    baseline: dict[str, Any] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> int:
    import matplotlib

    matplotlib.use("Agg")  # figures are only saved
    import matplotlib.pyplot as plt

    from theory_rl.experiments.plotting import save_figure
    from theory_rl.experiments.registry import all_claims, family_of
    from theory_rl.experiments.report import REPORT_NAME, run_settings, write_report
    from theory_rl.experiments.sweep import make_executor, run_sweep

    registered = all_claims()
    claims = _select(ids, families)
    if isinstance(claims, str):
        print(claims, file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    grid_name = "QUICK_GRID" if quick else "GRID"
    records: list[dict[str, Any]] = []
    verdicts = []
    start = time.perf_counter()
    executor = make_executor(executor_spec, workers=workers)
    try:
        for cid, module in claims.items():
            t0 = time.perf_counter()
            grid = getattr(module, grid_name)
            record: dict[str, Any] = {
                "id": cid,
                "family": family_of(cid),
                "paper": module.CLAIM.paper,
                "theorem": module.CLAIM.theorem,
                "statement": module.CLAIM.statement,
                "caption": module.CLAIM.caption,
                "grid": grid_name,
                "n_configs": len(grid),
                "seed": seed,
            }
            try:
                frame = run_sweep(
                    grid,
                    module.compute,
                    executor=executor,
                    out=None if cache is None else Path(cache) / cid,
                    seed=seed,
                    progress=cid,
                )
                frame.to_parquet(out / f"{cid}.parquet", index=False)
                claim_verdicts = list(module.check(frame))
                fig = module.plot(frame)
                files = save_figure(fig, out / cid)
                plt.close(fig)
                record.update(
                    n_rows=len(frame),
                    data=f"{cid}.parquet",
                    figures=[f.name for f in files],
                )
            except Exception as exc:  # report the claim as failed, go on with the others
                traceback.print_exc(file=sys.stderr)
                claim_verdicts = [_error_verdict(module, exc)]
            record["holds"] = all(v.holds for v in claim_verdicts)
            records.append(record)
            verdicts.extend(claim_verdicts)
            print(
                f"[{cid}] {len(grid)} configurations in {time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
    finally:
        executor.shutdown()
    all_hold = all(v.holds for v in verdicts)
    wall = time.perf_counter() - start
    settings = run_settings(grid=grid_name, seed=seed, wall_time_s=wall)
    _write_report(out / "verdicts.json", records, verdicts, list(registered), settings)
    page = write_report(out / "verdicts.json", out / REPORT_NAME)
    rows = [
        (
            v.claim_id,
            f"{v.paper}, {v.theorem}",
            v.stated,
            v.measured,
            "holds" if v.holds else "FAILS",
        )
        for v in verdicts
    ]
    print(_table(rows))
    n_fail = sum(not v.holds for v in verdicts)
    summary = "all hold" if all_hold else f"{n_fail} of {len(verdicts)} verdicts FAIL"
    print(
        f"\n{len(verdicts)} verdicts from {len(records)} claims ({grid_name}): {summary}; "
        f"{wall:.1f} s; report {out / 'verdicts.json'}, page {page}"
    )
    regressions = 0
    if baseline is not None:
        from theory_rl.experiments.compare import compare_reports

        new = json.loads((out / "verdicts.json").read_text())
        scope = set(claims)
        if families:  # claims of these families that the baseline has and the registry lost
            scope |= {c["id"] for c in baseline.get("claims", []) if c.get("family") in families}
        elif not ids:
            scope = None
        comparison = compare_reports(baseline, new, rtol, atol=atol, claims=scope)
        print(f"\nchanges against the baseline:\n{comparison.format()}")
        regressions = len(comparison.regressions)
    return 0 if all_hold and not regressions else 1


def _write_report(
    path: Path,
    records: list[dict[str, Any]],
    verdicts: list[Any],
    order: list[str],
    settings: dict[str, Any] | None = None,
) -> None:
    """Write ``verdicts.json``, keeping the entries of registered claims not run this time.

    The report indexes the figures and data in its directory, so a run restricted with
    ``--only`` updates its claims' entries and leaves the others (each entry names its grid).
    """
    import theory_rl

    claims = {r["id"]: r for r in records}
    by_claim: dict[str, list[dict[str, Any]]] = {r["id"]: [] for r in records}
    for v in verdicts:
        by_claim.setdefault(v.claim_id, []).append(v.to_dict())
    if path.exists():
        try:
            old = json.loads(path.read_text())
            for r in old.get("claims", []):
                if r.get("id") in order and r["id"] not in claims:
                    claims[r["id"]] = r
                    by_claim[r["id"]] = [
                        v for v in old.get("verdicts", []) if v.get("claim_id") == r["id"]
                    ]
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
            pass  # an unreadable old report is replaced
    ids = sorted(claims, key=lambda i: order.index(i) if i in order else len(order))
    merged = [v for i in ids for v in by_claim.get(i, [])]
    report = {
        "theory_rl_version": theory_rl.__version__,
        "all_hold": all(v["holds"] for v in merged),
        "claims": [claims[i] for i in ids],
        "verdicts": merged,
    }
    if settings is not None:
        report["run"] = settings
    path.write_text(json.dumps(report, indent=2) + "\n")


def _cmd_replot(claim_id: str, out: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from theory_rl.experiments.plotting import save_figure
    from theory_rl.experiments.registry import get_claim

    module = get_claim(claim_id)
    data = out / f"{claim_id}.parquet"
    if not data.exists():
        print(
            f"no saved data {data}; run `theory-rl verify --only {claim_id}` first", file=sys.stderr
        )
        return 2
    fig = module.plot(pd.read_parquet(data))
    for f in save_figure(fig, out / claim_id):
        print(f)
    plt.close(fig)
    return 0


def _cmd_report(verdicts: str, html: str | None) -> int:
    from theory_rl.experiments.report import write_report

    try:
        print(write_report(verdicts, html))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def _cmd_compare(old: str, new: str, rtol: float, atol: float) -> int:
    from theory_rl.experiments.compare import compare_reports

    try:
        comparison = compare_reports(old, new, rtol, atol=atol)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(comparison.format())
    return 1 if comparison.regressions else 0


def _load_baseline(path: str, rtol: float, atol: float) -> dict[str, Any] | str:
    """The baseline report, or an error message (checked before anything runs)."""
    from theory_rl.experiments.compare import load_report

    for name, tol in (("--compare-rtol", rtol), ("--compare-atol", atol)):
        if not (tol >= 0 and tol != float("inf")):
            return f"{name} must be a finite number >= 0, got {tol}"
    try:
        return load_report(path)
    except ValueError as exc:
        return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``theory-rl``; returns the exit status."""
    args = _parser().parse_args(argv)
    from theory_rl.experiments.registry import ClaimRegistrationError, claims_by_family

    try:  # import the claim modules once: a broken one from another package stops here
        claims_by_family()
    except ClaimRegistrationError as exc:
        print(f"theory-rl: {exc}", file=sys.stderr)
        return 2
    if args.command == "list":
        return _cmd_list()
    if args.command == "report":
        return _cmd_report(args.verdicts, args.html)
    if args.command == "compare":
        return _cmd_compare(args.old, args.new, args.rtol, args.atol)
    if args.command == "replot":
        try:
            return _cmd_replot(args.claim, Path(args.out))
        except KeyError as exc:
            print(exc.args[0], file=sys.stderr)
            return 2
    ids = [args.claim] if args.command == "reproduce" else args.only
    quick = args.command == "verify" and args.quick
    baseline = None
    if getattr(args, "compare", None) is not None:
        baseline = _load_baseline(os.fspath(args.compare), args.rtol, args.atol)
        if isinstance(baseline, str):
            print(baseline, file=sys.stderr)
            return 2
    try:
        return _run_claims(
            ids,
            families=getattr(args, "family", None),
            quick=quick,
            out=Path(args.out),
            executor_spec=args.executor,
            workers=args.workers,
            cache=args.cache,
            seed=args.seed,
            baseline=baseline,
            rtol=getattr(args, "rtol", 0.0),
            atol=getattr(args, "atol", 0.0),
        )
    except KeyboardInterrupt:
        if args.cache:
            note = f"finished parts are kept in {args.cache}; re-run with the same --cache resumes"
        else:
            note = "nothing was kept; with --cache DIR an interrupted run resumes"
        print(f"interrupted: {note}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
