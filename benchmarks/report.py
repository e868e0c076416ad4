"""Markdown tables from a pytest-benchmark JSON written by the suites of this folder.

Usage::

    python benchmarks/report.py /tmp/bench.json > /tmp/report.md

Sections: machine; memory bandwidth and Bellman sweeps (GB/s of the compulsory traffic and the
ratio to the copy bandwidth of the same run, target >= 0.6 for the CSR kernels); solvers (per
instance the median time of every solver that passed the accuracy gate, the fastest of ours
and of the peers, and the ratio fastest-peer / fastest-ours; target >= 2 on every instance);
peers not timed, with the reason; the S = 10**6 scale run; the CuPy path against the GPU's
copy bandwidth (when run on a GPU); batched PMD against
one-by-one calls.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

SWEEP_TARGET = 0.6
SPEED_TARGET = 2.0  # every instance: at least 2x the fastest accurate peer


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(data: dict) -> str:
    info = data.get("machine_info", {})
    ours = info.get("theory_rl_machine", {})
    extra = data.get("theory_rl", {})
    commit = data.get("commit_info", {})
    lines = [
        "## Machine",
        "",
        f"- CPU: {ours.get('cpu_model', info.get('cpu', {}).get('brand_raw', '?'))}, "
        f"nproc = {ours.get('nproc')}, memory {ours.get('mem_total_gib')} GiB, "
        f"numba threads = {ours.get('numba_threads')}",
        f"- Python {info.get('python_version')}, "
        + ", ".join(f"{k} {v}" for k, v in ours.get("versions", {}).items()),
        f"- load average at start / end of the run: {extra.get('loadavg_at_start')} / "
        f"{extra.get('loadavg_at_end')}",
        f"- run started {data.get('datetime')}, commit {commit.get('id', '?')[:10]}"
        f"{' (dirty tree)' if commit.get('dirty') else ''}; theory_rl imported from "
        f"`{ours.get('theory_rl_path')}`",
    ]
    return "\n".join(lines)


def sweep_section(benches: list[dict], copy_gbs: float | None) -> str:
    copy = [b for b in benches if b["extra_info"].get("kind") == "copy"]
    sweeps = [b for b in benches if b["extra_info"].get("kind") == "sweep"]
    if not copy and not sweeps:
        return ""
    out = ["## Bellman sweep and memory bandwidth", ""]
    if copy:
        c = copy[0]
        gbs = c["extra_info"]["bytes"] / c["stats"]["median"] / 1e9
        copy_gbs = gbs
        out.append(f"Copy bandwidth (`np.copyto`, {c['extra_info']['array_mib']:.0f} MiB, read + "
                   f"write counted): median {_ms(c['stats']['median'])} ms = **{gbs:.1f} GB/s**.")
        out.append("")
    rows = []
    for b in sweeps:
        e = b["extra_info"]
        med = b["stats"]["median"]
        gbs = e["bytes"] / med / 1e9
        ratio = gbs / copy_gbs if copy_gbs else float("nan")
        target = "yes" if ratio >= SWEEP_TARGET else "no"
        if not e["instance"].startswith("csr") or not e["impl"].startswith("numba"):
            target = "-"
        rows.append([e["instance"], e["impl"], _ms(med), _ms(b["stats"]["iqr"]),
                     f"{e['bytes'] / 1e6:.1f}", f"{gbs:.1f}", f"{ratio:.2f}", target])
    out.append(_table(["instance", "implementation", "median ms", "IQR ms", "MB moved", "GB/s",
                       "ratio to copy", f">= {SWEEP_TARGET}"], rows))
    return "\n".join(out)


def solver_section(benches: list[dict], not_timed: list[dict]) -> str:
    solves = [b for b in benches if b["extra_info"].get("kind") == "solver"]
    if not solves:
        return ""
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for b in solves:
        groups[(b["extra_info"]["instance"], b["extra_info"]["gamma"])].append(b)
    skipped: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for rec in not_timed:
        if rec.get("kind") == "solver":
            skipped[(rec["instance"], rec["gamma"])].append(rec)

    def sort_key(key):
        inst, gamma = key
        return (int(inst.split("-S")[1].split("-")[0]), gamma)

    summary, detail = [], []
    for key in sorted(groups, key=sort_key):
        inst, gamma = key
        rows = sorted(groups[key], key=lambda b: b["stats"]["median"])
        ours = [b for b in rows if b["extra_info"]["library"] == "theory_rl"]
        peers = [b for b in rows if b["extra_info"]["library"] != "theory_rl"]
        detail.append(f"### {inst}, gamma = {gamma}")
        detail.append("")
        detail.append(_table(
            ["solver", "median ms", "rounds", "iterations", "sup error", "setting"],
            [[f"{e['library']} {e['method']}", _ms(b["stats"]["median"]), e["rounds"],
              e["n_iterations"], f"{e['error']:.1e}",
              e["setting"] + (" (tuned vs V*)" if e.get("tuned") else "")]
             for b in rows for e in [b["extra_info"]]]
            + [[f"{r['library']} {r['method']}", "not timed", "", "", "", "see below"]
               for r in skipped.get(key, [])]))
        detail.append("")
        if not ours:
            continue
        best_ours = ours[0]
        t_ours = best_ours["stats"]["median"]
        if peers:
            best_peer = peers[0]
            t_peer = best_peer["stats"]["median"]
            ratio = t_peer / t_ours
            need = SPEED_TARGET
            peer_cell = (f"{best_peer['extra_info']['library']} "
                         f"{best_peer['extra_info']['method']}: {_ms(t_peer)}")
            met = "yes" if ratio >= need else "**no**"
        else:
            peer_cell, ratio, need, met = "none accurate", float("nan"), 1.0, "-"
        summary.append([inst, gamma,
                        f"{best_ours['extra_info']['method']}: {_ms(t_ours)}",
                        peer_cell, f"{ratio:.2f}", f">= {need:g}", met])
    out = ["## Exact solvers (sup error < 1e-8 to V*)", "",
           "Median wall time in ms; ratio = fastest accurate peer / fastest theory_rl.", ""]
    out.append(_table(["instance", "gamma", "fastest theory_rl (ms)", "fastest peer (ms)",
                       "ratio", "target", "met"], summary))
    out.append("")
    out.extend(detail)
    if not_timed:
        out += ["### Not timed", ""]
        out += [f"- {r.get('instance')}, gamma = {r.get('gamma')}, {r.get('library')} "
                f"{r.get('method')}: {r['reason']}" for r in not_timed]
    return "\n".join(out)


def scale_section(benches: list[dict]) -> str:
    scale = [b for b in benches if b["extra_info"].get("kind") == "scale"]
    if not scale:
        return ""
    rows = []
    for b in scale:
        e = b["extra_info"]
        rows.append([e["instance"], e["gamma"], f"{e['generation_seconds']:.2f}",
                     f"{e['operator_prep_seconds']:.3f}",
                     f"{e['sweep_seconds'] * 1e3:.0f} ({e['sweep_gb_per_s']:.1f} GB/s)",
                     e["n_iterations"], f"{b['stats']['median']:.2f}",
                     f"{e['guaranteed_value_error']:.1e}", f"{e['ru_maxrss_mib']:.0f}",
                     f"{e['vm_hwm_mib']:.0f}" if e.get("vm_hwm_mib") else "?"])
    return "\n".join(["## Scale: value iteration, S = 10^6", "", _table(
        ["instance", "gamma", "generation s", "operator prep s", "one sweep ms",
         "VI iterations", "VI solve s", "value error bound", "ru_maxrss MiB", "VmHWM MiB"],
        rows)])


def gpu_section(benches: list[dict]) -> str:
    gpu = [b for b in benches if str(b["extra_info"].get("kind", "")).startswith("gpu")]
    if not gpu:
        return ""
    copy = next((b for b in gpu if b["extra_info"]["kind"] == "gpu-copy"), None)
    lines = ["## GPU (CuPy path)", ""]
    if copy:
        e = copy["extra_info"]
        lines += [f"Device {e['device']} ({e['total_memory_gib']:.0f} GiB); copy bandwidth "
                  f"(`cupy.copyto`, 1 GiB, read + write): **{e['gb_per_s']:.0f} GB/s**.", ""]
    rows = []
    for b in gpu:
        e = b["extra_info"]
        if e["kind"] == "gpu-sweep":
            ratio = f"{e['ratio_to_copy']:.2f}" if e.get("ratio_to_copy") else "?"
            rows.append([e["instance"], "one sweep", _ms(b["stats"]["median"]),
                         f"{e['gb_per_s']:.0f} GB/s, {ratio} of copy"])
        elif e["kind"] == "gpu-vi":
            rows.append([e["instance"], f"VI to 1e-8 ({e['n_iterations']} sweeps)",
                         _ms(b["stats"]["median"]), f"CPU: {_ms(e['cpu_seconds'])} ms"])
    lines.append(_table(["instance", "what", "median ms", "bandwidth / comparison"], rows))
    return "\n".join(lines)


def pmd_batch_section(benches: list[dict]) -> str:
    by_mode = {b["param"]: b for b in benches if b["name"].startswith("test_pmd_batch")}
    if set(by_mode) != {"batched", "one_by_one"}:
        return ""
    e = by_mode["batched"]["extra_info"]
    t_batched = by_mode["batched"]["stats"]["median"]
    t_single = by_mode["one_by_one"]["stats"]["median"]
    return "\n".join([
        "## Batched PMD", "",
        f"KL-PMD, geometric steps, {e['n_iterations']} updates on a {e['n_states']}-state, "
        f"{e['n_actions']}-action MDP for B = {e['batch']} step sizes.", "",
        _table(["mode", "median ms", "speed-up"],
               [["one call, (B, S, A) batch", _ms(t_batched), f"{t_single / t_batched:.2f}"],
                ["B separate calls", _ms(t_single), "1.00"]]),
    ])


def driver_section(benches: list[dict]) -> str:
    """Seconds per iteration of each driver at each K, the growth from the smallest to the
    largest K, and the loop's overhead over a bare loop of the same pure step."""
    cost = defaultdict(dict)
    for b in benches:
        if b["name"].startswith("test_cost_per_iteration"):
            e = b["extra_info"]
            cost[(e["driver"], e["size"])][e["n_iterations"]] = e["seconds_per_iteration"]
    overhead = {
        (b["extra_info"]["driver"], b["extra_info"]["size"]): b["extra_info"]
        for b in benches
        if b["name"].startswith("test_loop_overhead")
    }
    if not cost:
        return ""
    sizes = sorted({size for _, size in cost}, key=lambda s: s != "small")
    lines = ["## Driver overhead", "",
             "Seconds per iteration (ms) by budget K; growth = per-iteration cost at the largest K "
             "over the smallest (1 = flat); loop overhead = driver time with record=() over a "
             "bare loop of the same pure step and exact evaluation (K = 100); with default "
             "metrics = the same ratio when the driver records its default metrics.", ""]
    for size in sizes:
        ks = sorted({k for (d, s), row in cost.items() if s == size for k in row})
        rows = []
        for (driver, s), row in sorted(cost.items()):
            if s != size:
                continue
            growth = row[ks[-1]] / row[ks[0]] if ks[0] in row and ks[-1] in row else float("nan")
            ov = overhead.get((driver, size))
            rows.append([driver, *(_ms(row[k]) if k in row else "-" for k in ks),
                         f"{growth:.2f}", f"{ov['overhead_ratio']:.2f}" if ov else "-",
                         f"{ov['metrics_ratio']:.2f}" if ov else "-"])
        lines += [f"### {size}", "",
                  _table(["driver", *(f"K={k}" for k in ks), "growth", "loop overhead",
                          "with default metrics"], rows), ""]
    return "\n".join(lines)


def report(data: dict) -> str:
    benches = data.get("benchmarks", [])
    extra = data.get("theory_rl", {})
    parts = [machine_section(data), sweep_section(benches, extra.get("copy_gb_per_s")),
             solver_section(benches, extra.get("not_timed", [])), scale_section(benches),
             gpu_section(benches), pmd_batch_section(benches), driver_section(benches)]
    return "\n\n".join(p for p in parts if p) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json_path", help="file written by pytest --benchmark-json=...")
    args = parser.parse_args(argv)
    with open(args.json_path) as f:
        data = json.load(f)
    print(report(data), end="")


if __name__ == "__main__":
    main()
