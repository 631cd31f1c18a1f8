#!/usr/bin/env python3
"""Splits a `perf record` profile of `nncert votes --dataset npy` into its phases — the
load (reading, checksums, conversion), the tie-break ranks (SHA-1) and the search (with
writing the outputs) — and prints each phase's wall time, the CPU seconds of each thread
in it, and the threads' main symbols. A phase's critical path is its busiest thread, so
how much of the load is serial shows whatever the machine's load (BENCHMARKS.md, "The
load path on two cores").

Usage:

    perf record -F 4000 -o P.data nncert votes --dataset npy … --threads 2 --out OUT
    perf script -i P.data -F tid,time,ip,sym | python3 tools/perf_phases.py [--freq 4000]

The ranks phase starts at the first SHA-1 sample after the load's last MD5 sample, the
search at the first sample of a search kernel or of the GEMM.
"""
import argparse
import collections
import sys


def samples(lines):
    """(thread, time, leaf symbol) of every sample of `perf script -F tid,time,ip,sym`."""
    out, current = [], None
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith("\t"):
            # Without call graphs the leaf's address and symbol follow on the same line.
            tid, time, *leaf = line.split(None, 3)
            current = [int(tid), float(time.rstrip(":")), leaf[1].strip() if len(leaf) > 1 else None]
            out.append(current)
        elif current[2] is None:
            parts = line.strip().split(None, 1)
            current[2] = parts[1].strip() if len(parts) > 1 else "?"
    return sorted(([t, time, s or "?"] for t, time, s in out), key=lambda s: s[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--freq", type=float, default=4000.0, help="perf's sampling frequency")
    args = ap.parse_args()
    rows = samples(sys.stdin)
    is_search = lambda s: ("neighbours::kernel" in s) or ("sgemm" in s)
    t_search = next(t for _, t, s in rows if is_search(s))
    last_md5 = max((t for _, t, s in rows if "md5::" in s and t < t_search), default=rows[0][1])
    t_ranks = next((t for _, t, s in rows if "sha1::" in s and t > last_md5), t_search)
    phases = (("load", rows[0][1], t_ranks), ("ranks", t_ranks, t_search),
              ("search+out", t_search, rows[-1][1] + 1e-9))
    for name, start, end in phases:
        per_thread = collections.defaultdict(collections.Counter)
        for tid, t, s in rows:
            if start <= t < end:
                per_thread[tid][s] += 1
        busy = sorted(per_thread.values(), key=lambda c: -sum(c.values()))
        cpu = [round(sum(c.values()) / args.freq, 2) for c in busy if sum(c.values()) > 10]
        print(f"{name:10s} {end - start:6.2f} s wall; CPU s per thread {cpu}")
        for c in busy[:2]:
            total = sum(c.values())
            if total > 10:
                top = ", ".join(f"{s[:40]} {100 * v // total}%" for s, v in c.most_common(4))
                print(f"{'':12s}{top}")


if __name__ == "__main__":
    main()
