#!/usr/bin/env python3
"""refund-recon benchmark.

Generates the standard data sets with `refund-recon generate --seed 42` in
both row layouts, cached under .bench-data/<size>-<layout>/:

  * interleaved: each file in time order with accounts interleaved, as a
    billing system exports them (generate's default; the headline figures)
  * by-account: each account's rows together (`generate --layout by-account`)

The layouts hold the same rows. For each size, layout and thread count it
reports, as medians of --runs runs (runs alternate between the layouts, and
with --compare between the two binaries, so a ratio comes from one sitting):

  * the floor: polars merely reading the three CSV files into memory
    (hidden `refund-recon bench-read` subcommand)
  * full run: `refund-recon run` wall seconds, rows per second, peak RSS,
    peak RSS / input bytes, full run / floor
  * ingest MB/s per core: input bytes / ingest seconds / threads
  * the phase table (seconds and shares, from summary.json)
  * thread scaling: speed-up and parallel efficiency against 1 thread

With --shapes SIZE it instead measures the inputs that once made a run
quadratic (issue 18), each derived from the SIZE interleaved set and run
beside it: every unsubscription in one batch (`one-batch`), every row under
one account whose orders all name one instance (`one-instance`), every
unsubscription naming one order (`one-order`). For each: wall seconds, peak
RSS, explain.idx size and `explain --reports` seconds for one unsubscription,
against the set they came from (the aim: within 2x).

With --mappings SIZE it measures mapped runs (issue 19) against the SIZE
interleaved set: `renamed` (every header renamed; a mapping that only
renames, read straight from the files), `reshaped` (renamed, vocabularies
upper-cased, amounts negated with thousands separators, timestamps as
`30/09/2021 15:00:00 GMT+08:00`: a step on every column, made canonical in
memory) and `huawei-bss` (the set rewritten as Huawei's four BSS exports,
run through the preset: filters, sums and lookups). For each: wall seconds,
peak RSS, the cost per million source rows over the canonical run, and
whether discrepancies, refunds, monthly_bill and quota_usage are
byte-identical to it (not expected for huawei-bss, whose preset assumes
and leaves out columns).

With --peer ORDERS[,ORDERS] (issue 21) it measures a single run against the
SQL an analyst would write and against the floor, all on the peer's own
exports (`../shared/peer/biggen.py --orders N --seed 1`: rows in random
order, accounts interleaved, cached under .bench-data/peer-N/), runs
alternating in one sitting: `refund-recon run` (and --compare), the DuckDB
peer (`../shared/peer/duckdb_peer.py`, same files and policy) and the floor
(Python polars reading the three files as text in one process,
`pl.read_csv(f, infer_schema=False)`; whole-process wall, as for the
others). --python names the interpreter that has duckdb and polars. For
each: median wall, peak RSS, RSS / input, run / floor and SQL / run.

Usage:
  python3 benches/bench.py                       # S and M, 3 runs, 1 and all threads
  python3 benches/bench.py --peer 1000000,10000000 --python VENV/bin/python  # issue 21's table
  python3 benches/bench.py --shapes S --runs 3   # the shared-key shapes against S
  python3 benches/bench.py --mappings M --runs 3 # mapped runs against M
  python3 benches/bench.py --sizes M,L --runs 3  # add L (10M orders, ~3 GB)
  python3 benches/bench.py --sizes M --layouts interleaved --compare OLD_BINARY
The binary is built with `cargo build --release` first unless --no-build or --bin.
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
SIZES = {"XS": 10_000, "S": 100_000, "M": 1_000_000, "L": 10_000_000}
LAYOUTS = ("interleaved", "by-account")
PHASES = ("ingest", "join", "rules", "aggregate", "write")


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "refund-recon")


def timed(cmd):
    """Runs cmd; returns (seconds, peak RSS bytes, stdout). Flushes the page
    cache's dirty pages first, so a run does not wait for the disk writes of
    the one before it."""
    os.sync()
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


def dataset(binary, size, layout):
    folder = os.path.join(ROOT, ".bench-data", f"{size}-{layout}")
    done = os.path.join(folder, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {size} {layout} ({SIZES[size]:,} orders) ...", flush=True)
        cmd = [binary, "generate", "--out", folder, "--orders", str(SIZES[size]), "--seed", "42", "--layout", layout]
        _, _, out = timed(cmd)
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


def full_run(binary, folder, threads):
    """One `run`: wall seconds, peak RSS, phases, rows read."""
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "reports")
        cmd = [binary, "run", "--data", folder, "--out", out_dir, "--threads", str(threads)]
        secs, rss, _ = timed(cmd)
        with open(os.path.join(out_dir, "summary.json")) as f:
            s = json.load(f)
    return secs, rss, s["elapsed_seconds"], sum(i["rows_read"] for i in s["inputs"])


def summarize(samples, nbytes, floor, threads):
    walls = [x[0] for x in samples]
    wall = statistics.median(walls)
    rows = samples[0][3]
    phases = {k: statistics.median(x[2][k] for x in samples) for k in PHASES}
    return {
        "wall_s": wall,
        "walls": walls,
        "rows": rows,
        "rows_per_s": rows / wall,
        "peak_rss": statistics.median(x[1] for x in samples),
        "rss_per_input": statistics.median(x[1] for x in samples) / nbytes,
        "full_per_floor": wall / floor,
        "ingest_mb_s_per_core": nbytes / 1e6 / max(phases["ingest"], 1e-9) / threads,
        "phases": phases,
    }


def bench_size(size, layouts, runs, threads, binaries):
    """Figures of one size: {layout: {"input_bytes", "floor_s", binary label: {threads: figures}}}."""
    folders = {lay: dataset(binaries[0][1], size, lay) for lay in layouts}
    result = {}
    for lay in layouts:
        floor = statistics.median(timed([binaries[0][1], "bench-read", "--data", folders[lay]])[0] for _ in range(runs))
        result[lay] = {"input_bytes": input_bytes(folders[lay]), "floor_s": floor}
    for t in threads:
        samples = {(lay, label): [] for lay in layouts for label, _ in binaries}
        for _ in range(runs):
            for lay in layouts:
                for label, binary in binaries:
                    samples[(lay, label)].append(full_run(binary, folders[lay], t))
        for (lay, label), xs in samples.items():
            r = result[lay]
            r.setdefault(label, {})[t] = summarize(xs, r["input_bytes"], r["floor_s"], t)
    return result


SHAPES = ("one-batch", "one-instance", "one-order")
PEER = os.path.join(os.path.dirname(ROOT), "shared", "peer")
FLOOR = (
    "import sys, polars as pl\n"
    "for f in ('orders', 'payments', 'unsubscriptions'):\n"
    "    pl.read_csv(f'{sys.argv[1]}/{f}.csv', infer_schema=False)\n"
)


def peer_dataset(python, orders):
    folder = os.path.join(ROOT, ".bench-data", f"peer-{orders}")
    if not os.path.exists(os.path.join(folder, ".complete")):
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating the peer's exports ({orders:,} orders) ...", flush=True)
        timed([python, os.path.join(PEER, "biggen.py"), "--out", folder, "--orders", str(orders), "--seed", "1"])
        open(os.path.join(folder, ".complete"), "w").close()
    return folder


def bench_peer(binaries, python, sizes, runs):
    """Issue 21's table: each binary, the SQL peer and the floor on the peer's exports."""
    rows = []
    for orders in sizes:
        folder = peer_dataset(python, orders)
        policy = os.path.join(folder, "policy.toml")
        nbytes = input_bytes(folder)
        samples = {}
        with tempfile.TemporaryDirectory() as tmp:
            commands = [(label, [b, "run", "--data", folder, "--policy", policy, "--out", os.path.join(tmp, label)])
                        for label, b in binaries]
            commands.append(("sql", [python, os.path.join(PEER, "duckdb_peer.py"), "--data", folder,
                                     "--policy", policy, "--out", os.path.join(tmp, "sql")]))
            commands.append(("floor", [python, "-c", FLOOR, folder]))
            for _ in range(runs):
                for label, cmd in commands:
                    secs, rss, _ = timed(cmd)
                    print(f"  {orders:,} {label}: {secs:.2f} s, {human(rss)}", flush=True)
                    samples.setdefault(label, []).append((secs, rss))
        med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in samples.items()}
        rows.append((orders, nbytes, med))
    print()
    print(f"single run against the SQL peer and the floor · {time.strftime('%Y-%m-%d')} · {os.cpu_count()} cores · median of {runs}")
    print("| orders | input | binary | run (s) | SQL (s) | floor (s) | SQL / run | run / floor | peak RSS | RSS / input |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for orders, nbytes, med in rows:
        sql, floor = med["sql"][0], med["floor"][0]
        for label, _ in binaries:
            wall, rss = med[label]
            print(f"| {orders:,} | {human(nbytes)} | {label} | {wall:.2f} | {sql:.2f} | {floor:.2f} | "
                  f"{sql / wall:.2f}× | {wall / floor:.2f} | {human(rss)} | {rss / nbytes:.2f} |")


def rewrite(src, dst, name, change):
    """Copies CSV file `name` from src to dst, passing each row (a dict) through change."""
    import csv

    with open(os.path.join(src, name), newline="") as fi, open(os.path.join(dst, name), "w", newline="") as fo:
        r = csv.DictReader(fi)
        w = csv.DictWriter(fo, fieldnames=r.fieldnames, lineterminator="\n")
        w.writeheader()
        for row in r:
            change(row)
            w.writerow(row)


def shaped(base, shape):
    """The set `base` rewritten into `shape`, cached beside it."""
    folder = f"{base}-{shape}"
    done = os.path.join(folder, ".complete")
    if os.path.exists(done):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    first_order = {}

    def keep(row):
        pass

    def one_account(row):
        row["account_id"] = "acct-shared"

    def one_instance(row):
        row["account_id"] = "acct-shared"
        row["instance_id"] = "inst-shared"

    def batch(row):
        row["batch_id"] = "batch-shared"

    def first(row):
        first_order.setdefault("id", row["order_id"])

    def one_order(row):
        row["order_id"] = first_order["id"]

    plan = {
        "one-batch": (keep, keep, batch),
        "one-instance": (one_instance, one_account, one_account),
        "one-order": (first, keep, one_order),
    }[shape]
    for name, change in zip(("orders.csv", "payments.csv", "unsubscriptions.csv"), plan):
        rewrite(base, folder, name, change)
    open(done, "w").close()
    return folder


def shape_run(binary, folder):
    """One run of a set: wall, peak RSS, explain.idx bytes, explain --reports seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "reports")
        secs, rss, _ = timed([binary, "run", "--data", folder, "--out", out_dir])
        idx = os.path.getsize(os.path.join(out_dir, "explain.idx"))
        with open(os.path.join(folder, "unsubscriptions.csv")) as f:
            f.readline()
            lines = f.readlines()
        unsub = lines[len(lines) // 2].split(",")[0]
        explain_s, _, _ = timed([binary, "explain", unsub, "--reports", out_dir])
    return secs, rss, idx, explain_s


def bench_shapes(binary, size, runs):
    base = dataset(binary, size, "interleaved")
    sets = [("as generated", base)] + [(s, shaped(base, s)) for s in SHAPES]
    samples = {label: [] for label, _ in sets}
    for _ in range(runs):
        for label, folder in sets:
            samples[label].append(shape_run(binary, folder))
    med = {label: [statistics.median(x[k] for x in xs) for k in range(4)] for label, xs in samples.items()}
    b = med["as generated"]
    print()
    print(f"shared-key shapes from {size} interleaved · {time.strftime('%Y-%m-%d')} · median of {runs} runs · {binary}")
    print("| input | run (s) | ÷ as generated | peak RSS | ÷ | explain.idx | ÷ | explain --reports (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, (secs, rss, idx, ex) in med.items():
        print(
            f"| {label} | {secs:.2f} | {secs / b[0]:.2f} | {human(rss)} | {rss / b[1]:.2f} | "
            f"{human(idx)} | {idx / b[2]:.2f} | {ex:.3f} |"
        )


MONEY = ("amount", "coupon_amount", "refund_amount", "handling_fee", "coupon_returned")
TIMES = ("ordered_at", "service_start", "service_end", "paid_at", "requested_at", "reviewed_at", "completed_at", "refunded_at")
TOKENS = ("status", "order_type", "billing_mode", "item_kind", "refund_type", "instance_state")
VOCAB = {
    "status": ("succeeded", "failed", "completed", "rejected", "pending"),
    "order_type": ("new", "renewal", "upgrade", "usage"),
    "billing_mode": ("subscription", "pay_per_use"),
    "item_kind": ("edition", "asset_quota", "value_added", "resource"),
    "refund_type": ("unconditional", "partial", "unactivated", "release"),
    "instance_state": ("normal", "overdue", "security_locked", "config_changing", "transaction_in_progress",
                       "special_unsubscription", "legal_frozen"),
}
INPUTS = {"orders": "orders.csv", "payments": "payments.csv", "unsubscriptions": "unsubscriptions.csv"}


def reshape_cell(col, v, full):
    import re

    if not full or v == "":
        return v
    if col in MONEY and re.fullmatch(r"\d{1,13}(\.\d{1,6})?", v):
        int_part, _, frac = v.partition(".")
        grouped = f"{int(int_part):,}"
        return "-" + grouped + ("." + frac if frac else "") if v.strip("0.") else v
    if col in TIMES:
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?", v)
        if m:
            off = {None: "+08:00", "Z": "+00:00"}.get(m.group(5), m.group(5))
            return f"{m.group(3)}/{m.group(2)}/{m.group(1)} {m.group(4)} GMT{off}"
        return v
    if col in TOKENS:
        return v.upper()
    return v


def renamed_set(base, full):
    """The set with every header renamed (X_NAME); with `full`, cells reshaped too. Returns (folder, mapping)."""
    import csv

    folder = f"{base}-{'reshaped' if full else 'renamed'}"
    mapping = os.path.join(folder, "mapping.toml")
    if os.path.exists(os.path.join(folder, ".complete")):
        return folder, mapping
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    lines = ["version = 1"]
    for inp, name in INPUTS.items():
        with open(os.path.join(base, name), newline="") as fi, open(os.path.join(folder, "x-" + name), "w", newline="") as fo:
            r = csv.reader(fi)
            w = csv.writer(fo, lineterminator="\n")
            header = next(r)
            w.writerow([f"X_{h.upper()}" for h in header])
            for row in r:
                w.writerow([reshape_cell(h, v, full) for h, v in zip(header, row)] if len(row) == len(header) else row)
        lines += [f'[sources.{inp}]', f'files = ["x-{name}"]', f"[{inp}]", f'source = "{inp}"', f"[{inp}.columns]"]
        for h in header:
            src = f"X_{h.upper()}"
            if full and h in MONEY:
                lines.append(f'{h} = {{ column = "{src}", thousands = ",", sign = "negate" }}')
            elif full and h in TIMES:
                lines.append(f'{h} = {{ column = "{src}", format = "%d/%m/%Y %H:%M:%S%.f GMT%:z" }}')
            elif full and h in TOKENS:
                words = ", ".join(f'{w.upper()} = "{w}"' for w in VOCAB[h])
                lines.append(f"{h} = {{ column = \"{src}\", map = {{ {words} }} }}")
            else:
                lines.append(f'{h} = "{src}"')
    with open(mapping, "w") as f:
        f.write("\n".join(lines) + "\n")
    open(os.path.join(folder, ".complete"), "w").close()
    return folder, mapping


def huawei_set(base):
    """The set rewritten as Huawei BSS exports (docs/mapping.md#huawei-bss)."""
    import csv
    from datetime import datetime, timedelta

    folder = f"{base}-huawei-bss"
    if os.path.exists(os.path.join(folder, ".complete")):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)

    def rows(name):
        with open(os.path.join(base, name), newline="") as f:
            r = csv.reader(f)
            header = next(r)
            for row in r:
                if len(row) == len(header):
                    yield dict(zip(header, row))

    def writer(name, header):
        f = open(os.path.join(folder, name), "w", newline="")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        return f, w

    order_type = {"new": "1", "renewal": "2", "upgrade": "3", "usage": "1"}
    of, ow = writer("orders.csv", ["order_id", "customer_id", "service_type_name", "status", "order_type",
                                   "amount_after_discount", "official_amount", "measure_id", "create_time",
                                   "payment_time", "currency", "amount_info.coupon_amount",
                                   "amount_info.commission_amount"])
    itf, iw = writer("order-items.csv", ["order_id", "period_type", "effective_time", "expire_time"])
    currency = {}
    for o in rows("orders.csv"):
        try:
            cash = f"{float(o['amount']) - float(o['coupon_amount']):.2f}"
            end = (datetime.fromisoformat(o["service_end"]) - timedelta(seconds=1)).isoformat()
        except ValueError:
            continue
        currency[o["order_id"]] = o["currency"]
        ow.writerow([o["order_id"], o["account_id"], o["product"], "5", order_type.get(o["order_type"], "1"), cash,
                     o["amount"], "1", o["ordered_at"], o["ordered_at"], o["currency"], o["coupon_amount"], ""])
        iw.writerow([o["order_id"], "6" if o["billing_mode"] == "pay_per_use" else "3", o["service_start"], end])
    af, aw = writer("account-changes.csv", ["currency", "account_change_id", "trade_time", "trade_id",
                                            "change_amount", "revenue_expense_type", "bill_cycle"])
    for p in rows("payments.csv"):
        if p["status"] == "succeeded":
            aw.writerow([p["currency"], p["payment_id"], p["paid_at"], p["order_id"], p["amount"], "EXPENSE", ""])
    rf, rw = writer("refunds.csv", ["order_id", "id", "amount", "measure_id", "customer_id", "base_order_id"])
    status = {"completed": "5", "rejected": "4", "pending": "1"}
    for u in rows("unsubscriptions.csv"):
        uo = "U" + u["unsub_id"]
        ow.writerow([uo, u["account_id"], "", status.get(u["status"], "1"), "4", u["refund_amount"] or "0", "", "1",
                     u["requested_at"], "", currency.get(u["order_id"], "USD"), "", u["handling_fee"]])
        rw.writerow([uo, u["unsub_id"], "-" + (u["refund_amount"] or "0"), "1", u["account_id"], u["order_id"]])
        when = u["refunded_at"] or u["completed_at"]
        if u["status"] == "completed" and when:
            aw.writerow([currency.get(u["order_id"], "USD"), "R" + u["unsub_id"], when, uo, u["refund_amount"] or "0",
                         "REVENUE", u["billing_cycle"]])
    for f in (of, itf, af, rf):
        f.close()
    open(os.path.join(folder, ".complete"), "w").close()
    return folder


def mapped_run(binary, folder, mapping):
    """One run: wall, peak RSS, source rows read, the four compared reports' bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "reports")
        cmd = [binary, "run", "--data", folder, "--out", out_dir] + (["--mapping", mapping] if mapping else [])
        secs, rss, _ = timed(cmd)
        with open(os.path.join(out_dir, "summary.json")) as f:
            s = json.load(f)
        reports = {}
        for name in ("discrepancies.csv", "refunds.csv", "monthly_bill.csv", "quota_usage.csv"):
            with open(os.path.join(out_dir, name), "rb") as f:
                reports[name] = f.read()
    if "mapping" in s:
        read = sum(x["rows_read"] for x in s["mapping"]["sources"] if x["input"] != "lookup")
    else:
        read = sum(i["rows_read"] for i in s["inputs"])
    return secs, rss, read, reports


def bench_mappings(binary, size, runs):
    base = dataset(binary, size, "interleaved")
    renamed = renamed_set(base, False)
    reshaped = renamed_set(base, True)
    sets = [("canonical", base, None), ("renamed", *renamed), ("reshaped", *reshaped),
            ("huawei-bss", huawei_set(base), "huawei-bss")]
    samples = {label: [] for label, _, _ in sets}
    for _ in range(runs):
        for label, folder, mapping in sets:
            samples[label].append(mapped_run(binary, folder, mapping))
    print()
    print(f"mapped runs from {size} interleaved · {time.strftime('%Y-%m-%d')} · median of {runs} runs · {binary}")
    print("| input | run (s) | ÷ canonical | peak RSS | source rows | s per million rows over canonical | same reports |")
    print("|---|---|---|---|---|---|---|")
    base_s = statistics.median(x[0] for x in samples["canonical"])
    base_reports = samples["canonical"][0][3]
    for label, xs in samples.items():
        secs = statistics.median(x[0] for x in xs)
        rss = statistics.median(x[1] for x in xs)
        rows = xs[0][2]
        same = "yes" if xs[0][3] == base_reports else "no"
        print(f"| {label} | {secs:.2f} | {secs / base_s:.2f} | {human(rss)} | {rows:,} | "
              f"{(secs - base_s) / rows * 1e6:+.2f} | {same} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="S,M", help="comma list of XS, S, M, L")
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default=None, help="comma list; default: 1 and all cores")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", help="also write the raw figures here")
    ap.add_argument("--bin", help="the refund-recon binary (default: the cargo release build)")
    ap.add_argument("--compare", help="a second binary (e.g. the build before a change), run alternately with the first")
    ap.add_argument("--shapes", metavar="SIZE", help="measure the shared-key shapes derived from SIZE instead")
    ap.add_argument("--mappings", metavar="SIZE", help="measure mapped runs derived from SIZE instead")
    ap.add_argument("--peer", metavar="ORDERS", help="comma list of order counts: a run against the SQL peer and the floor")
    ap.add_argument("--python", default=sys.executable, help="with --peer: a Python with duckdb and polars")
    args = ap.parse_args()
    binary = args.bin or default_binary()
    if not args.no_build and not args.bin:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if args.shapes:
        return bench_shapes(binary, args.shapes, args.runs)
    if args.mappings:
        return bench_mappings(binary, args.mappings, args.runs)
    binaries = [("this", binary)] + ([("compare", args.compare)] if args.compare else [])
    if args.peer:
        return bench_peer(binaries, args.python, [int(n) for n in args.peer.split(",")], args.runs)
    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    layouts = [x.strip() for x in args.layouts.split(",")]
    for lay in layouts:
        if lay not in LAYOUTS:
            sys.exit(f"--layouts: {lay} is not one of {', '.join(LAYOUTS)}")
    sizes = [s.strip() for s in args.sizes.split(",")]
    results = {s: bench_size(s, layouts, args.runs, threads, binaries) for s in sizes}

    top = max(threads)
    print()
    print(f"refund-recon benchmark · {time.strftime('%Y-%m-%d')} · {cores} cores · median of {args.runs} runs")
    for label, path in binaries:
        print(f"  {label}: {path}")
    print()
    print(f"at {top} thread(s):")
    print("| size | layout | binary | input | rows | floor (s) | full run (s) | full / floor | rows/s | ingest MB/s/core | peak RSS | RSS / input |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size, by_layout in results.items():
        for lay, r in by_layout.items():
            for label, _ in binaries:
                f = r[label][top]
                print(
                    f"| {size} | {lay} | {label} | {human(r['input_bytes'])} | {f['rows']:,} | {r['floor_s']:.2f} | "
                    f"{f['wall_s']:.2f} | {f['full_per_floor']:.2f} | {f['rows_per_s']:,.0f} | "
                    f"{f['ingest_mb_s_per_core']:.0f} | {human(f['peak_rss'])} | {f['rss_per_input']:.2f} |"
                )
    print()
    print(f"phases at {top} thread(s), seconds (share), from summary.json:")
    print("| size | layout | binary | " + " | ".join(PHASES) + " |")
    print("|---|---|---|" + "---|" * len(PHASES))
    for size, by_layout in results.items():
        for lay, r in by_layout.items():
            for label, _ in binaries:
                p = r[label][top]["phases"]
                total = sum(p.values()) or 1
                cells = " | ".join(f"{p[k]:.2f} ({100 * p[k] / total:.0f} %)" for k in PHASES)
                print(f"| {size} | {lay} | {label} | {cells} |")
    if len(layouts) > 1:
        print()
        print(f"interleaved / by-account wall, at {top} thread(s):")
        for size, by_layout in results.items():
            for label, _ in binaries:
                a, b = by_layout["interleaved"][label][top], by_layout["by-account"][label][top]
                print(f"  {size} {label}: {a['wall_s']:.2f} / {b['wall_s']:.2f} = {a['wall_s'] / b['wall_s']:.2f}")
    if args.compare:
        print()
        print("this / compare wall (below 1: this binary is faster):")
        for size, by_layout in results.items():
            for lay, r in by_layout.items():
                for t in threads:
                    a, b = r["this"][t], r["compare"][t]
                    print(f"  {size} {lay} {t} thr: {a['wall_s']:.2f} / {b['wall_s']:.2f} = {a['wall_s'] / b['wall_s']:.3f}")
    if 1 in threads and len(threads) > 1:
        print()
        print("| size | layout | binary | " + " | ".join(f"{t} thr (s)" for t in threads) + f" | speed-up at {top} | efficiency |")
        print("|---|---|---|" + "---|" * (len(threads) + 2))
        for size, by_layout in results.items():
            for lay, r in by_layout.items():
                for label, _ in binaries:
                    cells = " | ".join(f"{r[label][t]['wall_s']:.2f}" for t in threads)
                    speed = r[label][1]["wall_s"] / r[label][top]["wall_s"]
                    print(f"| {size} | {lay} | {label} | {cells} | {speed:.2f}× | {100 * speed / top:.0f} % |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
