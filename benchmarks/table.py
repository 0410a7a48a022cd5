"""The side-by-side table as Markdown, and its place in BENCHMARKS.md between two markers."""
from __future__ import annotations

from typing import Any

BEGIN = "<!-- side-by-side: begin (benchmarks/sidebyside.py --write BENCHMARKS.md replaces this part) -->"
END = "<!-- side-by-side: end -->"
Medians = dict[str, dict[str, float]]
Runs = dict[str, dict[str, list[float]]]

ROWS: tuple[tuple[str, str, str, str], ...] = (
    # (label, key, format, target)
    ("req/s through varnish, cached", "cached_rps", "{:,.0f}", ""),
    ("req/s through varnish, uncached", "uncached_rps", "{:,.0f}", ""),
    ("req/s one client direct", "direct_rps", "{:,.0f}", ""),
    ("req/s haproxy direct", "haproxy_rps", "{:,.0f}", ""),
    ("p50 / p90 / p99 through varnish, uncached (ms)", "uncached_p50_ms", "", "p50 ≤ classic's"),
    ("p50 one client direct (ms)", "direct_p50_ms", "{:.2f}", ""),
    ("p50 haproxy direct (ms)", "haproxy_p50_ms", "{:.2f}", ""),
    ("CPU ms per uncached request through varnish, all processes", "uncached_cpu_ms_total", "{:.3f}", ""),
    ("… varnish", "uncached_cpu_ms_varnish", "{:.3f}", ""),
    ("… haproxy", "uncached_cpu_ms_haproxy", "{:.3f}", ""),
    ("… the two clients", "uncached_cpu_ms_clients", "{:.3f}", ""),
    ("… ZEO server", "uncached_cpu_ms_zeo", "{:.3f}", ""),
    ("… supervisord", "uncached_cpu_ms_supervisord", "{:.4f}", ""),
    ("… everything else (listeners, workers)", "uncached_cpu_ms_others", "{:.4f}", ""),
    ("CPU ms per request, one client direct (the page's own cost)", "direct_cpu_ms_clients", "{:.3f}", ""),
    ("CPU ms per request, haproxy direct: haproxy", "haproxy_cpu_ms_haproxy", "{:.3f}", ""),
    ("supervisord CPU-s per 10 s, uncached load through varnish", "uncached_supervisord_cpu_s_per_10s",
     "{:.3f}", "≤ 0.1"),
    ("`bin/supervisord` → first 200 through varnish (s)", "startup_first_200_s", "{:.2f}", ""),
    ("no-change re-run of `bin/buildout` (s)", "rebuild_noop_s", "{:.2f}", ""),
    ("RSS of supervisord + event listeners after the load (MB)", "memory_supervisord_listeners_loaded_mb",
     "{:.1f}", ""),
)


def cell(medians: dict[str, float], key: str, fmt: str) -> str:
    if not medians:
        return "–"
    if key == "uncached_p50_ms":
        return " / ".join(f"{medians.get(f'uncached_p{p}_ms', -1):.2f}" for p in (50, 90, 99))
    value = medians.get(key)
    return "–" if value is None else fmt.format(value)


def ratio(runs: dict[str, list[float]], top: str, bottom: str) -> str:
    """Median of the per-round ratios, with their range."""
    if not runs:
        return "–"
    pairs = [a / b for a, b in zip(runs.get(top, []), runs.get(bottom, [])) if b]
    if not pairs:
        return "–"
    pairs.sort()
    middle = pairs[len(pairs) // 2] if len(pairs) % 2 else (pairs[len(pairs) // 2 - 1] + pairs[len(pairs) // 2]) / 2
    return f"{middle:.2f} ({pairs[0]:.2f}–{pairs[-1]:.2f})"


def errors(runs: dict[str, list[float]]) -> str:
    non2xx = sum(sum(v) for k, v in runs.items() if k.endswith("_non_2xx"))
    sockets = sum(sum(v) for k, v in runs.items() if k.endswith("_socket_errors"))
    return f"{non2xx:.0f} / {sockets:.0f}"


def render_markdown(meta: dict[str, Any], medians: Medians, runs: Runs) -> str:
    """The table and how it was measured."""
    kinds = ("classic", "sitestack")
    lines = ["| figure | classic | sitestack | target |", "|---|---|---|---|"]
    for label, key, fmt, target in ROWS:
        lines.append(f"| {label} | {cell(medians['classic'], key, fmt)} | {cell(medians['sitestack'], key, fmt)} "
                     f"| {target} |")
        if key == "haproxy_rps":
            for name, top, target in (("through varnish ÷ direct", "uncached_rps", "≥ 1.0 (sitestack)"),
                                      ("haproxy direct ÷ direct", "haproxy_rps", "")):
                lines.append(f"| {name} (median of rounds, range) | "
                             + " | ".join(ratio(runs[k], top, "direct_rps") for k in kinds) + f" | {target} |")
    lines.extend(page_rows(meta, medians["sitestack"], runs["sitestack"]))
    lines.append("| non-2xx answers / socket errors, all wrk runs | "
                 + " | ".join(errors(runs[k]) for k in kinds) + " | 0 / 0 |")
    return "\n".join([
        f"Run: {meta['date']}, commit `{meta['commit']}`, {meta['rounds']} rounds, "
        f"`wrk -t2 -c{meta['connections']} -d{meta['duration']}s --latency` per target, nproc = {meta['nproc']}.",
        f"Load average (1/5/15 min) before the run and after each stack's turn: {'; '.join(meta['load_averages'])}.",
        f"Load average (1 min) at the end of each wrk run: {during(runs)}.",
        "",
        *lines,
    ])


def during(runs: Runs) -> str:
    """Median and range of the 1-minute load average read at the end of every wrk run."""
    loads = sorted(v for kind in runs.values() for k, values in kind.items() if k.endswith("_load1") for v in values)
    if not loads:
        return "–"
    return f"median {loads[len(loads) // 2]:.2f}, {loads[0]:.2f}–{loads[-1]:.2f}"


def page_rows(meta: dict[str, Any], medians: dict[str, float], runs: dict[str, list[float]]) -> list[str]:
    """The second line: sitestack's home page over N notes, a page of realistic cost (not the target)."""
    if "page_direct_rps" not in runs:
        return []
    name = f"home page `/` over {meta.get('page_notes', '?')} notes (realistic cost; sitestack only, not the target)"
    parts = ("varnish", "haproxy", "clients")
    cpu = " / ".join(f"{medians.get(f'page_uncached_cpu_ms_{part}', -1):.3f}" for part in parts)
    return [
        f"| {name}: CPU ms per request, one client direct (the page's cost) | – | "
        f"{medians.get('page_direct_cpu_ms_clients', -1):.3f} |  |",
        f"| … req/s through varnish / one client direct | – | {medians.get('page_uncached_rps', 0):,.0f} / "
        f"{medians.get('page_direct_rps', 0):,.0f} |  |",
        f"| … through varnish ÷ direct (median of rounds, range) | – | "
        f"{ratio(runs, 'page_uncached_rps', 'page_direct_rps')} |  |",
        f"| … CPU ms per request through varnish: varnish / haproxy / the two clients | – | {cpu} |  |",
        f"| … p50 through varnish / one client direct (ms) | – | {medians.get('page_uncached_p50_ms', -1):.2f} / "
        f"{medians.get('page_direct_p50_ms', -1):.2f} |  |",
    ]


def replace_between_markers(text: str, table: str) -> str:
    """text with everything between BEGIN and END replaced by table."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"BENCHMARKS.md has no side-by-side markers ({BEGIN} … {END})")
    return text[: start + len(BEGIN)] + "\n" + table + "\n" + text[end:]
