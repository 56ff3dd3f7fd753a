#!/usr/bin/env python3
"""refund-recon benchmark.

Generates the standard data sets with `refund-recon generate` (seed 42,
cached under .bench-data/<size>/), then for each size reports, as medians
of --runs runs:

  * bare read: polars merely reading the three CSV files into memory
    (the floor; hidden `refund-recon bench-read` subcommand)
  * full run: `refund-recon run` wall seconds, rows per second, peak RSS,
    and the share of time in each phase (from summary.json)
  * the headline ratio full run / bare read, peak RSS / input bytes
  * thread scaling: --threads 1 vs the machine's cores (--scaling)

Usage:
  python3 benches/bench.py                 # S and M, 3 runs each
  python3 benches/bench.py --sizes S,M,L   # add L (10M orders, ~3 GB)
  python3 benches/bench.py --sizes M --threads 1,2 --runs 5
The binary is built with `cargo build --release` first unless --no-build.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {"S": 100_000, "M": 1_000_000, "L": 10_000_000}


BIN = None


def binary():
    if BIN:
        return BIN
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "refund-recon")


def timed(cmd):
    """Runs cmd; returns (seconds, peak RSS bytes, stdout)."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if p.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err.decode()}")
    return seconds, usage.ru_maxrss * 1024, out.decode()


def dataset(size):
    folder = os.path.join(ROOT, ".bench-data", size)
    done = os.path.join(folder, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {size} ({SIZES[size]:,} orders) ...", flush=True)
        secs, _, out = timed([binary(), "generate", "--out", folder, "--orders", str(SIZES[size]), "--seed", "42"])
        print(f"  {out.strip()}", flush=True)
        open(done, "w").close()
    return folder


def input_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in ("orders.csv", "payments.csv", "unsubscriptions.csv"))


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def bench_size(size, runs, threads):
    folder = dataset(size)
    nbytes = input_bytes(folder)
    result = {"size": size, "orders": SIZES[size], "input_bytes": nbytes}
    bare = []
    for _ in range(runs):
        secs, rss, out = timed([binary(), "bench-read", "--data", folder])
        bare.append(secs)
    result["bare_read_s"] = statistics.median(bare)
    for t in threads:
        walls, rsses, phases = [], [], []
        rows = 0
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                out_dir = os.path.join(tmp, "reports")
                cmd = [binary(), "run", "--data", folder, "--out", out_dir, "--threads", str(t)]
                secs, rss, _ = timed(cmd)
                walls.append(secs)
                rsses.append(rss)
                with open(os.path.join(out_dir, "summary.json")) as f:
                    s = json.load(f)
                phases.append(s["elapsed_seconds"])
                rows = sum(i["rows_read"] for i in s["inputs"])
        med = statistics.median(walls)
        phase = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
        result[f"threads_{t}"] = {
            "wall_s": med,
            "walls": walls,
            "rows": rows,
            "rows_per_s": rows / med,
            "peak_rss": max(rsses),
            "phases": phase,
        }
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="S,M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default=None, help="comma list; default: 1 and all cores")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", help="also write the raw figures here")
    ap.add_argument("--bin", help="the refund-recon binary (default: the cargo release build)")
    args = ap.parse_args()
    global BIN
    BIN = args.bin
    if not args.no_build and not args.bin:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    results = [bench_size(s.strip(), args.runs, threads) for s in args.sizes.split(",")]

    print()
    print(f"refund-recon benchmark · {time.strftime('%Y-%m-%d')} · {cores} cores · median of {args.runs} runs")
    top = max(threads)
    print()
    print("| size | orders | input | rows | bare read (s) | full run (s) | full / bare | rows/s | peak RSS | RSS / input |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        t = r[f"threads_{top}"]
        print(
            f"| {r['size']} | {r['orders']:,} | {human(r['input_bytes'])} | {t['rows']:,} | {r['bare_read_s']:.2f} | "
            f"{t['wall_s']:.2f} | {t['wall_s'] / r['bare_read_s']:.2f} | {t['rows_per_s']:,.0f} | "
            f"{human(t['peak_rss'])} | {t['peak_rss'] / r['input_bytes']:.2f} |"
        )
    print()
    print(f"phase shares at {top} thread(s) (seconds inside the run, from summary.json):")
    print("| size | ingest (read + validate) | join | rules | aggregate | write |")
    print("|---|---|---|---|---|---|")
    for r in results:
        p = r[f"threads_{top}"]["phases"]
        total = sum(p[k] for k in ("ingest", "join", "rules", "aggregate", "write")) or 1
        cells = " | ".join(f"{p[k]:.2f} s ({100 * p[k] / total:.0f} %)" for k in ("ingest", "join", "rules", "aggregate", "write"))
        print(f"| {r['size']} | {cells} |")
    if len(threads) > 1:
        print()
        print("| size | " + " | ".join(f"{t} thr (s)" for t in threads) + " | speed-up | efficiency |")
        print("|---|" + "---|" * (len(threads) + 2))
        for r in results:
            base = r["threads_1"]["wall_s"] if "threads_1" in r else None
            cells = " | ".join(f"{r[f'threads_{t}']['wall_s']:.2f}" for t in threads)
            if base:
                speed = base / r[f"threads_{top}"]["wall_s"]
                print(f"| {r['size']} | {cells} | {speed:.2f}× | {100 * speed / top:.0f} % |")
            else:
                print(f"| {r['size']} | {cells} | | |")
    if len(results) > 1 and all(r["size"] in ("M", "L") for r in results[-2:]):
        m, l = results[-2], results[-1]
        if m["size"] == "M" and l["size"] == "L":
            ratio = l[f"threads_{top}"]["wall_s"] / m[f"threads_{top}"]["wall_s"]
            print(f"\nM → L time ratio: {ratio:.1f}× for 10× the rows")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
