"""``report.html``: the verdicts of a run on one self-contained page.

:func:`render_report` turns a ``verdicts.json`` report (see :mod:`theory_rl.experiments.cli`)
and the PNG figures beside it into one HTML page: inline CSS, each figure embedded as a
``data:image/png;base64`` URI, no script and no network access, so the file can be mailed,
attached to a CI run or opened offline.  The page is a summary to look at:

* a headline (verdicts holding / failing) and one coloured tile per claim, by family;
* the verdict table, failing claims first (a red group at the top, every failing verdict
  marked ``FAILS``), then the claims that hold grouped by family in the order of
  ``theory-rl list``; one row per verdict with the statement and the measured figure side by
  side, the claim's id linking to its figure (an in-page anchor ``#fig-<id>``);
* the figures, in the table's order, with their captions;
* the run's settings (theory_rl version, git commit, machine, grid, seed, wall time, date).

The page depends only on its inputs: the same ``verdicts.json`` and figures give the same bytes
(the settings block, which holds the date and wall time of the run, comes from the report).
:func:`run_settings` collects the settings of a run; :func:`write_report` regenerates the page
from a ``verdicts.json`` (``theory-rl report verdicts.json``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["REPORT_NAME", "render_report", "run_settings", "write_report"]

#: File name of the page, written beside ``verdicts.json``.
REPORT_NAME = "report.html"

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0 auto;max-width:1400px;padding:16px 24px;color:#1a1a1a;background:#fff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.headline{font-size:18px;font-weight:600;padding:8px 12px;border-radius:4px;margin:8px 0}
.headline.ok{background:#e6f4ea;color:#1e5e2a}
.headline.fails{background:#c62828;color:#fff}
.settings{font-size:12px;color:#444;border-collapse:collapse;margin:6px 0}
.settings th{text-align:left;padding:1px 10px 1px 0;font-weight:600}
.settings td{padding:1px 10px 1px 0}
.tiles{display:flex;flex-wrap:wrap;gap:10px 18px;margin:10px 0}
.tilefamily{display:flex;flex-wrap:wrap;gap:3px;align-items:center}
.tilefamily b{font-size:12px;margin-right:4px;color:#444}
a.tile{display:inline-block;padding:3px 7px;border-radius:3px;font-size:12px;color:#fff;
 text-decoration:none;font-family:ui-monospace,Menlo,Consolas,monospace}
a.tile.holds{background:#2e7d32}
a.tile.fails{background:#c62828}
table.verdicts{border-collapse:collapse;width:100%;font-size:13px}
table.verdicts th,table.verdicts td{border-bottom:1px solid #e4e4e4;padding:4px 6px;
 vertical-align:top;text-align:left}
table.verdicts thead th{background:#f3f3f3;position:sticky;top:0}
tr.group th{background:#eef1f6;font-size:14px;padding-top:10px}
tbody.failing tr.group th{background:#c62828;color:#fff}
tr.verdict.fails td{background:#fdecea}
td.claim{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:nowrap}
td.claim small{display:block;color:#666;font-family:system-ui,sans-serif}
td.stated,td.measured{width:32%}
span.badge{display:inline-block;padding:1px 6px;border-radius:3px;font-weight:600;
 font-size:12px;color:#fff}
span.badge.holds{background:#2e7d32}
span.badge.fails{background:#c62828}
details summary{cursor:pointer;color:#555;font-size:12px}
details pre{white-space:pre-wrap;font-size:11px;background:#f7f7f7;padding:6px;margin:4px 0}
.figures{display:flex;flex-direction:column;gap:24px}
figure{margin:0;padding:8px;border:1px solid #e4e4e4;border-radius:4px}
figure.fails{border:3px solid #c62828}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:13px;margin-bottom:6px}
figcaption code{font-weight:600}
.missing{color:#c62828;font-style:italic}
"""


def _git_commit() -> str | None:
    """The commit of the source tree theory_rl is imported from (``+dirty`` when modified)."""
    import theory_rl

    where = Path(theory_rl.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_settings(*, grid: str, seed: int, wall_time_s: float) -> dict[str, Any]:
    """The settings of a run, as stored under ``"run"`` in ``verdicts.json``.

    ``{"theory_rl_version", "git_commit" (None outside a git checkout), "machine": {"cpu",
    "cores", "platform"}, "python", "grid", "seed", "wall_time_s", "date"}`` (date in UTC).
    """
    import theory_rl

    return {
        "theory_rl_version": theory_rl.__version__,
        "git_commit": _git_commit(),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
        },
        "python": platform.python_version(),
        "grid": grid,
        "seed": seed,
        "wall_time_s": round(float(wall_time_s), 1),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def _family_order(report: Mapping[str, Any]) -> list[str]:
    from theory_rl.experiments.registry import families

    try:
        known = families()
    except Exception:  # a broken claim module must not keep the page from being written
        known = []
    present = {_family(c) for c in report.get("claims", [])}
    return [f for f in known if f in present] + sorted(present - set(known))


def _family(record: Mapping[str, Any]) -> str:
    if record.get("family"):
        return str(record["family"])
    from theory_rl.experiments.registry import family_of

    try:
        return family_of(str(record.get("id")))
    except Exception:
        return "other"


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _anchor(cid: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in cid)


def _settings_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    run = report.get("run") or {}
    claims = report.get("claims", [])
    grids: dict[str, int] = {}
    seeds: dict[str, int] = {}
    for c in claims:
        grids[str(c.get("grid", "?"))] = grids.get(str(c.get("grid", "?")), 0) + 1
        seeds[str(c.get("seed", "?"))] = seeds.get(str(c.get("seed", "?")), 0) + 1

    def tally(d: dict[str, int]) -> str:
        if len(d) == 1:
            return next(iter(d))
        return ", ".join(f"{k} ({n} claims)" for k, n in sorted(d.items()))

    machine = run.get("machine") or {}
    unknown = "not recorded"  # a report written before runs recorded their settings
    if machine:
        where = f"{machine.get('cpu', unknown)}, {machine.get('cores', '?')} cores" + (
            f" ({machine['platform']})" if machine.get("platform") else ""
        )
    else:
        where = unknown
    if "git_commit" in run:
        commit = str(run["git_commit"] or "not a git checkout")
    else:
        commit = unknown
    wall = run.get("wall_time_s")
    return [
        ("theory_rl", str(run.get("theory_rl_version", report.get("theory_rl_version", "?")))),
        ("git commit", commit),
        ("machine", where),
        ("python", str(run.get("python", unknown))),
        ("grid", tally(grids) if grids else str(run.get("grid", unknown))),
        ("seed", tally(seeds) if seeds else str(run.get("seed", unknown))),
        ("wall time", unknown if wall is None else f"{wall:.1f} s (last run)"),
        ("date", str(run.get("date", unknown))),
    ]


def render_report(report: Mapping[str, Any], figures_dir: str | os.PathLike[str]) -> str:
    """The HTML page of ``report`` (a parsed ``verdicts.json``), figures read from
    ``figures_dir`` (each claim record's ``.png`` in its ``figures`` list).

    A figure that is missing on disk is shown as missing; ``ValueError`` when ``report`` is not
    a verdicts report.
    """
    from theory_rl.experiments.compare import validate_report

    validate_report(report, "<report>")
    figdir = Path(figures_dir)
    claims = [c for c in report.get("claims", []) if isinstance(c, Mapping) and "id" in c]
    verdicts: dict[str, list[Mapping[str, Any]]] = {}
    for v in report["verdicts"]:
        verdicts.setdefault(v["claim_id"], []).append(v)
    known = {c["id"] for c in claims}
    for cid in verdicts:
        if cid not in known:  # verdicts without a claim record still get a row
            claims.append({"id": cid})
            known.add(cid)
    order = _family_order({"claims": claims})
    fam = {c["id"]: _family(c) for c in claims}
    rank = {f: i for i, f in enumerate(order)}
    claims.sort(key=lambda c: rank[fam[c["id"]]])  # stable: registry order within a family

    def fails(c: Mapping[str, Any]) -> bool:
        return c.get("holds") is False or any(not v["holds"] for v in verdicts.get(c["id"], []))

    failing = [c for c in claims if fails(c)]
    holding = [c for c in claims if not fails(c)]
    n_v = sum(len(v) for v in verdicts.values())
    n_fail = sum(not v["holds"] for vs in verdicts.values() for v in vs)

    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>theory_rl verdicts</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>theory_rl: stated results checked by measurement</h1>",
    ]
    if n_fail:
        head = (
            f"{n_fail} of {n_v} verdicts FAIL ({len(failing)} of {len(claims)} claims); "
            "failing claims are listed first"
        )
    else:
        head = f"all {n_v} verdicts from {len(claims)} claims hold"
    out.append(f'<p class="headline {"fails" if n_fail else "ok"}" id="headline">{_e(head)}</p>')
    out.append('<table class="settings" id="settings">')
    for k, val in _settings_rows(report):
        out.append(f"<tr><th>{_e(k)}</th><td>{_e(val)}</td></tr>")
    out.append("</table>")

    out.append('<nav class="tiles" id="overview">')
    for f in order:
        members = [c for c in claims if fam[c["id"]] == f]
        tiles = "".join(
            f'<a class="tile {"fails" if fails(c) else "holds"}" '
            f'href="#claim-{_anchor(c["id"])}">{_e(c["id"])}</a>'
            for c in members
        )
        out.append(f'<div class="tilefamily"><b>{_e(f)}</b>{tiles}</div>')
    out.append("</nav>")

    out.append('<h2 id="verdicts">Verdicts</h2>')
    out.append('<table class="verdicts">')
    out.append(
        "<thead><tr><th>claim</th><th>paper, theorem</th><th>stated</th><th>measured</th>"
        "<th>verdict</th></tr></thead>"
    )
    groups: list[tuple[str, str, list[Mapping[str, Any]]]] = []
    if failing:
        groups.append(("failing", f"Failing claims ({len(failing)})", failing))
    for f in order:
        members = [c for c in holding if fam[c["id"]] == f]
        if members:
            groups.append((f"family-{_anchor(f)}", f, members))
    for gid, title, members in groups:
        cls = ' class="failing"' if gid == "failing" else ""
        out.append(f'<tbody id="{_e(gid)}"{cls}>')
        out.append(f'<tr class="group"><th colspan="5">{_e(title)}</th></tr>')
        for c in members:
            cid = c["id"]
            rows = verdicts.get(cid) or [
                {"claim_id": cid, "stated": c.get("statement", ""), "measured": "no verdict",
                 "holds": False, "paper": c.get("paper", ""), "theorem": c.get("theorem", "")}
            ]
            for i, v in enumerate(rows):
                ok = bool(v["holds"])
                rid = f' id="claim-{_anchor(cid)}"' if i == 0 else ""
                family_note = f"<small>{_e(fam[cid])}</small>" if gid == "failing" else ""
                detail = ""
                if v.get("detail"):
                    detail = (
                        f"<details><summary>detail</summary><pre>{_e(v['detail'])}</pre>"
                        "</details>"
                    )
                out.append(
                    f'<tr class="verdict {"holds" if ok else "fails"}"{rid} '
                    f'data-claim="{_e(cid)}" data-holds="{str(ok).lower()}">'
                    f'<td class="claim"><a href="#fig-{_anchor(cid)}">{_e(cid)}</a>'
                    f"{family_note}</td>"
                    f"<td>{_e(v.get('paper', ''))}, {_e(v.get('theorem', ''))}</td>"
                    f'<td class="stated">{_e(v["stated"])}</td>'
                    f'<td class="measured">{_e(v.get("measured", ""))}{detail}</td>'
                    f'<td><span class="badge {"holds" if ok else "fails"}">'
                    f'{"holds" if ok else "FAILS"}</span></td></tr>'
                )
        out.append("</tbody>")
    out.append("</table>")

    out.append('<h2 id="figures">Figures</h2>')
    out.append('<section class="figures">')
    for _, _, members in groups:
        for c in members:
            cid = c["id"]
            pngs = [f for f in c.get("figures", []) if str(f).endswith(".png")]
            caption = (
                f'<figcaption><a href="#claim-{_anchor(cid)}"><code>{_e(cid)}</code></a> '
                f"({_e(fam[cid])}){': ' + _e(c['caption']) if c.get('caption') else ''}"
                "</figcaption>"
            )
            cls = "fails" if fails(c) else "holds"
            path = figdir / pngs[0] if pngs else None
            if path is not None and path.is_file():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                body = f'<img src="data:image/png;base64,{data}" alt="figure of {_e(cid)}">'
            else:
                why = f"figure {pngs[0]} missing" if pngs else "no figure (the claim errored)"
                body = f'<p class="missing">{_e(why)}</p>'
            out.append(
                f'<figure id="fig-{_anchor(cid)}" class="{cls}" data-claim="{_e(cid)}">'
                f"{caption}{body}</figure>"
            )
    out.append("</section>")
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"


def write_report(
    verdicts: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """Write the page of the ``verdicts.json`` at ``verdicts`` (figures read from its
    directory) to ``out`` (default ``report.html`` beside it); returns the path written.

    ``ValueError`` naming the file when it is not a readable verdicts report.
    """
    from theory_rl.experiments.compare import load_report

    src = Path(verdicts)
    report = load_report(src)
    dest = src.parent / REPORT_NAME if out is None else Path(out)
    dest.write_text(render_report(report, src.parent), encoding="utf-8")
    return dest

