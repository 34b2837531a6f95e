"""`dmabuf-bench compare BASE NEW`: percent change per metric, the CI gate.

Rows are matched by (scenario, job, IOMMU mode); runs of the same key inside
one directory are averaged first. Before any number is compared the labels
must agree: source, attach, IOMMU mode, device and platform. If they do not
(another device, a job whose memory or attach changed, BASE measured in strict
and NEW in passthrough, deterministic rig rows against plain TCG or hardware)
compare refuses with exit 2: such a change is not a regression or an
improvement, it is another experiment.

Defaults follow the platform. Rows from the deterministic rig (vm-icount,
figures repeat within about 0.5 %) are gated at 2 % on iops, bw_mib and
ns_per_io; anything else at 10 % on throughput, latency and CPU per I/O.

Exit status: 0 no regression beyond --threshold; 1 a regression (a gated
metric worse by more than the threshold: IOPS or bandwidth down, latency or
CPU per I/O up; or a job that ran in BASE failed or was refused in NEW);
2 refused (labels differ, nothing in common) or bad arguments.
"""

import argparse
import json
import sys
from pathlib import Path

from . import results as R

DEFAULT_GATE = "iops,bw_mib,clat_mean_us,clat_p99_us,cpu_per_io_us"
DEFAULT_THRESHOLD = 10.0
# Deterministic rig: guest time is instructions. CPU per I/O comes from
# rusage ticks and latency percentiles from fio's histogram buckets: not
# exact enough for a 2 % gate.
ICOUNT_GATE = "iops,bw_mib,ns_per_io"
ICOUNT_THRESHOLD = 2.0
SHOWN = [m for m in R.METRIC_KEYS if m not in ("ios",)]


class Refusal(Exception):
    pass


def label_str(r):
    return " ".join(f"{k}={r.get(k) or '?'}" for k in R.LABEL_CHECK)


def check_labels(base, new):
    """Raise Refusal listing every label difference between matched rows."""
    problems = []
    for side, agg in (("BASE", base), ("NEW", new)):
        for k, r in agg.items():
            for lk, seen in r["labels_seen"].items():
                if len(seen) > 1:
                    problems.append(f"{side} {k[0]} {k[1]} [iommu={k[2]}]: runs disagree on "
                                    f"{lk} ({' vs '.join(seen)})")
    for k in sorted(set(base) & set(new)):
        b, n = base[k], new[k]
        diffs = [f"{lk} {b.get(lk) or '?'} -> {n.get(lk) or '?'}" for lk in R.LABEL_CHECK
                 if (b.get(lk) or "") != (n.get(lk) or "")]
        if any(lk == "platform" and R.ICOUNT in (b.get(lk), n.get(lk))
               for lk in R.LABEL_CHECK if (b.get(lk) or "") != (n.get(lk) or "")):
            diffs.append("deterministic (icount) figures count guest instructions, "
                         "not time: compare them only with icount rows")
        if diffs:
            problems.append(f"{k[0]} {k[1]} [iommu={k[2]}]: " + ", ".join(diffs))
    # Same job measured only in other IOMMU modes on each side.
    jobs_b, jobs_n = {}, {}
    for k in base:
        jobs_b.setdefault(k[:2], set()).add(k[2])
    for k in new:
        jobs_n.setdefault(k[:2], set()).add(k[2])
    for j in sorted(set(jobs_b) & set(jobs_n)):
        if not jobs_b[j] & jobs_n[j]:
            problems.append(f"{j[0]} {j[1]}: iommu {','.join(sorted(jobs_b[j]))} (BASE) vs "
                            f"{','.join(sorted(jobs_n[j]))} (NEW)")
    if problems:
        raise Refusal("labels differ; these results are different experiments, "
                      "not a regression:\n  " + "\n  ".join(problems))
    if not set(base) & set(new):
        raise Refusal("BASE and NEW have no job (scenario, job, iommu mode) in common")


def change_pct(b, n):
    if b is None or n is None:
        return None
    if b == 0:
        return 0.0 if n == 0 else None
    return (n - b) / abs(b) * 100.0


def compare(base_rows, new_rows, threshold, gate):
    """-> (lines of findings, regressions, entries for JSON)."""
    base, new = R.aggregate(base_rows), R.aggregate(new_rows)
    check_labels(base, new)
    findings, regressions, entries = [], [], []
    for k in sorted(set(base) & set(new), key=lambda k: (k[0], k[1], k[2])):
        b, n = base[k], new[k]
        where = f"{k[0]} {k[1]} {label_str(n)}"
        if b["status"] == "ok" and n["status"] != "ok":
            msg = f"ran in BASE, {n['status']} in NEW: {n.get('reason', '')}"
            findings.append(("-", "-", "-", "status", where, "REGRESSION " + msg))
            regressions.append(f"{where}: {msg}")
            continue
        if n["status"] != "ok":
            findings.append(("-", "-", "-", "status", where,
                             f"not compared: {n['status']} in both ({n.get('reason', '')[:120]})"))
            continue
        if b["status"] != "ok":
            findings.append(("-", "-", "-", "status", where,
                             f"new: ran in NEW, {b['status']} in BASE"))
            continue
        for m in SHOWN:
            bv, nv = b.get(m), n.get(m)
            if m in ("eagain", "bounce_mib") and not bv and not nv:
                continue
            ch = change_pct(bv, nv)
            direction = R.METRIC_INFO[m][3]
            flag = ""
            if ch is not None and direction and m in gate:
                worse = -ch * direction
                if worse > threshold:
                    flag = "REGRESSION"
                    regressions.append(f"{where}: {m} {R.fmt(bv)} -> {R.fmt(nv)} ({ch:+.1f}%)")
                elif worse < -threshold:
                    flag = "improvement"
            sd = ""
            if n.get(m + "_sd_pct") is not None:
                sd = f" +-{n[m + '_sd_pct']:.0f}%"
            findings.append((R.fmt(bv) + (f" +-{b[m + '_sd_pct']:.0f}%"
                                          if b.get(m + "_sd_pct") is not None else ""),
                             "n/a" if ch is None else f"{ch:+.1f}%",
                             R.fmt(nv) + sd, m, where, flag))
            if direction and nv is not None:
                entries.append({
                    "name": f"{k[0]}/{k[1]} [iommu={k[2]}] {R.METRIC_INFO[m][1]}",
                    "unit": R.METRIC_INFO[m][2],
                    "value": round(nv, 4),
                    "range": "n/a" if ch is None else f"{ch:+.1f}%",
                    "extra": f"base={R.fmt(bv)} {label_str(n)} exporter={n.get('exporter')} "
                             f"uapi_probe={n.get('uapi_probe')} n={n.get('n')}",
                    "bigger_is_better": direction > 0,
                })
    return findings, regressions, entries


def render(findings, base_dir, new_dir, threshold, gate):
    head = ("base", "%change", "new", "metric", "labels", "")
    widths = [max([len(head[i])] + [len(f[i]) for f in findings]) for i in range(3)]
    wm = max([len(head[3])] + [len(f[3]) for f in findings])
    out = [f"compare {base_dir} -> {new_dir} (threshold {threshold:g}%, gated: {','.join(gate)})",
           f"{head[0]:>{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:>{widths[2]}}  "
           f"{head[3]:<{wm}}  {head[4]}",
           f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * widths[2]}  {'-' * wm}  {'-' * 20}"]
    last = None
    for f in findings:
        if last is not None and f[4] != last:
            out.append("")
        last = f[4]
        out.append(f"{f[0]:>{widths[0]}}  {f[1]:>{widths[1]}}  {f[2]:>{widths[2]}}  "
                   f"{f[3]:<{wm}}  {f[4]}" + (f"  {f[5]}" if f[5] else ""))
    return "\n".join(out)


HELP = "percent change per metric between two results dirs; exit 1 on regression"


def add_parser(subparsers):
    p = subparsers.add_parser("compare", help=HELP, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE", help="baseline results directory")
    p.add_argument("new", metavar="NEW", help="candidate results directory")
    p.add_argument("--threshold", type=float, default=None, metavar="PCT",
                   help="regression when a gated metric is worse by more than PCT "
                        f"percent (default {ICOUNT_THRESHOLD:g} for deterministic rig "
                        f"rows, else {DEFAULT_THRESHOLD:g})")
    p.add_argument("--metrics", default=None, metavar="LIST",
                   help=f"gated metrics (default {ICOUNT_GATE} for deterministic rig "
                        f"rows, else {DEFAULT_GATE}; also clat_p50_us, clat_p999_us)")
    p.add_argument("--json", metavar="FILE",
                   help="write NEW's bigger-is-better metrics (IOPS, MiB/s) as "
                        "github-action-benchmark 'customBiggerIsBetter' JSON")
    p.add_argument("--json-smaller", metavar="FILE",
                   help="write latency and CPU-per-I/O as 'customSmallerIsBetter' JSON")
    p.add_argument("--markdown", action="store_true",
                   help="wrap the table in a Markdown code block (CI summaries)")
    p.set_defaults(func=_cmd_compare)


def defaults_for(rows):
    """(threshold, gate) for these rows: the deterministic rig's, or not."""
    plats = {r.get("platform") for r in rows if r.get("status") == "ok"}
    if plats == {R.ICOUNT}:
        return ICOUNT_THRESHOLD, ICOUNT_GATE
    return DEFAULT_THRESHOLD, DEFAULT_GATE


def _cmd_compare(args):
    rows = []
    for d in (args.base, args.new):
        if not R.results_path(d).is_file():
            print(f"dmabuf-bench: error: {Path(d) / 'results.json'} not found", file=sys.stderr)
            return 2
        rows.append(R.load_rows(d))
    threshold, metrics = defaults_for(rows[0] + rows[1])
    if args.threshold is not None:
        threshold = args.threshold
    if args.metrics is not None:
        metrics = args.metrics
    args.threshold = threshold
    gate = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in gate if m not in R.METRIC_INFO or R.METRIC_INFO[m][3] == 0]
    if bad:
        print(f"dmabuf-bench: error: --metrics {','.join(bad)}: not a gateable metric "
              f"(have {', '.join(m for m in R.METRIC_KEYS if R.METRIC_INFO[m][3])})",
              file=sys.stderr)
        return 2
    try:
        findings, regressions, entries = compare(rows[0], rows[1], args.threshold, gate)
    except Refusal as e:
        print(f"dmabuf-bench: compare refused: {e}", file=sys.stderr)
        return 2
    text = render(findings, args.base, args.new, args.threshold, gate)
    print(f"```\n{text}\n```" if args.markdown else text)
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{k: v for k, v in e.items() if k != "bigger_is_better"}
             for e in entries if e["bigger_is_better"]], indent=1) + "\n")
    if args.json_smaller:
        Path(args.json_smaller).write_text(json.dumps(
            [{k: v for k, v in e.items() if k != "bigger_is_better"}
             for e in entries if not e["bigger_is_better"]], indent=1) + "\n")
    if regressions:
        print(f"\n{len(regressions)} regression(s) beyond {args.threshold:g}%:", file=sys.stderr)
        for r in regressions:
            print(f"  {r}", file=sys.stderr)
        return 1
    print(f"\nno regression beyond {args.threshold:g}%", file=sys.stderr)
    return 0
