#!/usr/bin/env python3
"""Helper for benches/compare.sh: times polsim, DuckDB and Polars on the same
CSV files and the same 5-rule approval query (benches/bench5.yaml), and
polsim alone on Rhai policies (--rhai-policy, repeatable) on the same files.

    compare.py bench --polsim BIN --policy YAML [--rhai-policy YAML]... FILE...
                                                           run everything, print the tables
    compare.py duckdb FILE                                 one DuckDB run (2 threads)
    compare.py polars FILE                                 one Polars run (2 threads, streaming)
    compare.py duckdb-parquet FILE / polars-parquet FILE   the same over a Parquet file
    compare.py to-parquet CSV OUT                          a typed Parquet copy of CSV (Polars)

Every measured run is its own process, started through `/usr/bin/time -f %M`
(peak RSS, KiB) when that exists, else measured with os.wait4's rusage. Wall
time is taken around the whole process, so for DuckDB and Polars it includes
starting Python and importing the library; the workers also report the time of
the query alone ("query s"), measured inside the process. CPU seconds (user +
system, all threads) come from the child's rusage.

The machine may be shared: busy CPU of other processes during each run is
read from /proc/stat, runs where it exceeds 5% are set aside and retried, and
the tools take turns (one run each per round) so that slow spells fall on all
of them alike. Slowdowns of the host that the guest cannot see (another VM on
the same cores) are not caught: compare rows of one table, not across runs.

The approval query, the same in every tool: a row is approved when
real_name_verified, is_plus_member, zhima_score >= 600, overdue_count_12m = 0
and age >= 18 all hold. A missing (NULL) value fails its condition.

The Rhai policies (policies/*.yaml, paths relative to the repo root) run in
the same rounds, with the hash cache on, and get a second table: wall time
against policies/jd_plus.yaml and the targets in RHAI_TARGETS.
jd_plus.yaml and jd_plus_expr.yaml (the same rules as Rhai `expr`) must
approve the same count; they are left out of the all-tools-agree check.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

THREADS = 2
RUNS = int(os.environ.get("RUNS", "3"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Rhai policies: the reference for the ratio, and the target of each other one
# by file name: (text, met(ratio to the reference, rows per second)).
RHAI_REFERENCE = "jd_plus.yaml"
RHAI_SAME_COUNT = ("jd_plus.yaml", "jd_plus_expr.yaml")
# The shared pass (jd_plus, --threads 2, hash cached): each command's target
# as a ratio to one `simulate` of jd_plus.
PASS_REFERENCE = "simulate"
PASS_TARGETS = {
    "compare": ("<= 1.30x simulate", 1.30),
    "sweep": ("<= 2.00x simulate", 2.00),
}

# The Monte Carlo (benches/monte_carlo.yaml: every row approved, hash cached,
# --threads 2), on the 1M-row file only: 1,000 trials are 10^9 draws.
MC_ROWS = 1_000_000
MC_TARGETS = {
    "--trials 1": ("<= 1.50x plain simulate", lambda wall, plain: wall <= 1.5 * plain),
    "--trials 1000": ("<= 2.00 s", lambda wall, plain: wall <= 2.0),
}

# polsim on a Parquet file against Polars on the same file (whole process).
PARQUET_TARGET = ("<= 0.50x Polars", 0.50)

RHAI_TARGETS = {
    "jd_plus_expr.yaml": ("<= 1.20x jd_plus", lambda ratio, rps: ratio is not None and ratio <= 1.20),
    "merchant_script.yaml": (">= 1.5M rows/s", lambda ratio, rps: rps >= 1.5e6),
}

TYPES = {
    "real_name_verified": "BOOLEAN",
    "is_plus_member": "BOOLEAN",
    "zhima_score": "BIGINT",
    "overdue_count_12m": "BIGINT",
    "age": "BIGINT",
}


# ---------------------------------------------------------------------------
# Workers: each prints one JSON line {"approved": N, "query_s": S}
# ---------------------------------------------------------------------------

def run_duckdb(path):
    types = "{" + ", ".join(f"'{k}': '{v}'" for k, v in TYPES.items()) + "}"
    return duckdb_count(f"read_csv(?, header = true, types = {types})", path)


def run_duckdb_parquet(path):
    return duckdb_count("read_parquet(?)", path)


def duckdb_count(source, path):
    """The approval query in DuckDB over `source` (a table function of `path`)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    # A NULL makes the WHERE clause NULL, which does not select the row.
    query = f"""
        SELECT count(*) FROM {source}
        WHERE real_name_verified AND is_plus_member AND zhima_score >= 600
          AND overdue_count_12m = 0 AND age >= 18
    """
    start = time.perf_counter()
    (approved,) = con.execute(query, [path]).fetchone()
    return {"approved": int(approved), "query_s": time.perf_counter() - start}


def run_polars_parquet(path):
    os.environ["POLARS_MAX_THREADS"] = str(THREADS)
    import polars as pl

    assert pl.thread_pool_size() == THREADS, pl.thread_pool_size()
    start = time.perf_counter()
    out = pl.scan_parquet(path).filter(polars_approved(pl)).select(pl.len()).collect(engine="streaming")
    return {"approved": int(out.item()), "query_s": time.perf_counter() - start}


def to_parquet(csv_path, out_path):
    """A typed Parquet copy of a generated CSV file, as an analyst would
    write it with Polars: integers as int64, booleans, money as
    decimal(12, 2), text as strings; zstd pages, row groups of 500,000."""
    import polars as pl

    money = {"monthly_income": pl.Decimal(12, 2), "order_amount": pl.Decimal(12, 2)}
    pl.scan_csv(csv_path, schema_overrides=money).sink_parquet(out_path, row_group_size=500_000)


def polars_approved(pl):
    # A null makes the AND null (or false); `filter` keeps only true rows.
    return (
        pl.col("real_name_verified")
        & pl.col("is_plus_member")
        & (pl.col("zhima_score") >= 600)
        & (pl.col("overdue_count_12m") == 0)
        & (pl.col("age") >= 18)
    )


def run_polars(path):
    # POLARS_MAX_THREADS must be set before polars is imported.
    os.environ["POLARS_MAX_THREADS"] = str(THREADS)
    import polars as pl

    assert pl.thread_pool_size() == THREADS, pl.thread_pool_size()
    overrides = {k: (pl.Boolean if v == "BOOLEAN" else pl.Int64) for k, v in TYPES.items()}
    start = time.perf_counter()
    out = (
        pl.scan_csv(path, schema_overrides=overrides)
        .filter(polars_approved(pl))
        .select(pl.len())
        .collect(engine="streaming")
    )
    return {"approved": int(out.item()), "query_s": time.perf_counter() - start}


# ---------------------------------------------------------------------------
# Measuring one process
# ---------------------------------------------------------------------------

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
# A run during which other processes (or the hypervisor, as steal time) took
# more than this share of the machine is reported as contended.
CONTENDED = 0.05
# Rounds to try at most to get RUNS uncontended runs of every tool.
MAX_ROUNDS = 3 * RUNS


class Run:
    """One measured process: wall and CPU seconds, peak RSS, stdout, and how
    busy the rest of the machine was meanwhile (a share of all cores)."""

    def __init__(self, wall, cpu, rss_mib, stdout, others):
        self.wall, self.cpu, self.rss_mib, self.stdout, self.others = wall, cpu, rss_mib, stdout, others


def busy_ticks():
    """Busy CPU ticks of the whole machine, steal time included."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]
    return sum(fields[:3]) + sum(fields[5:8])


def measure(argv, env=None):
    env = dict(os.environ, **(env or {}))
    with tempfile.NamedTemporaryFile("w+", suffix=".rss") as rss, \
            tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        cmd = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else argv
        ticks = busy_ticks()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        ticks = busy_ticks() - ticks
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if code != 0:
            sys.exit(f"FAILED (exit {code}): {' '.join(argv)}\n{err.read()}")
        if GNU_TIME:
            rss.seek(0)
            kib = int(rss.read().strip().splitlines()[-1])
        else:
            kib = usage.ru_maxrss  # KiB on Linux; includes waited-for children
        # rusage of a reaped child includes the children it reaped in turn.
        cpu = usage.ru_utime + usage.ru_stime
        others = max(0.0, ticks / CLOCK_TICKS - cpu) / (wall * CORES)
        return Run(wall, cpu, kib / 1024, text, others)


def interleaved(jobs):
    """Times every job: one warm-up each (which also warms the page cache),
    then rounds that run every job once, so that slow and fast spells of a
    shared machine fall on all tools alike. Rounds go on until every job has
    RUNS runs on an otherwise idle machine (at most MAX_ROUNDS rounds).
    Returns, per job, its clean runs fastest first (all runs if too few were clean)."""
    for label, argv, env in jobs:
        print(f"   warm-up: {label}", file=sys.stderr, flush=True)
        measure(argv, env)
    runs = {label: [] for label, _, _ in jobs}
    clean = lambda rs: [r for r in rs if r.others <= CONTENDED]
    for n in range(MAX_ROUNDS):
        todo = [j for j in jobs if len(clean(runs[j[0]])) < RUNS]
        if not todo:
            break
        print(f"   round {n + 1}: {len(todo)} tool(s)", file=sys.stderr, flush=True)
        for label, argv, env in todo:
            runs[label].append(measure(argv, env))
    return {label: sorted(clean(rs) if len(clean(rs)) >= RUNS else rs, key=lambda r: r.wall)
            for label, rs in runs.items()}


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------

def count_rows(path):
    """Data rows in a CSV without quoted newlines (polsim gen output)."""
    lines = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            lines += block.count(b"\n")
    return lines - 1


def print_table(table):
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def write_markdown(f, table):
    f.write("| " + " | ".join(table[0]) + " |\n")
    f.write("|" + "|".join(["---"] + ["---:"] * (len(table[0]) - 1)) + "|\n")
    for row in table[1:]:
        f.write("| " + " | ".join(row) + " |\n")


def bench(args):
    me = os.path.abspath(__file__)
    results = []
    rhai_results = []
    pass_results = []
    mc_results = []
    parquet_results = []
    failures = []
    contended = []
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    if load > 0.5:
        print(f"warning: load average {load:.2f} before starting; other work on the machine "
              "skews the timings", file=sys.stderr)
    for path in args.files:
        rows = count_rows(path)
        print(f"== {path}: {rows:,} rows", file=sys.stderr)
        # polsim trusts a remembered hash only for a file that has been still
        # for the kernel's write-back window (35 s by default; see README,
        # "The data hash"): wait that out for a freshly generated file, or the
        # "hash cached" rows would time first runs.
        parquet_path = path.removesuffix(".csv") + ".parquet"
        written = [p for p in (path, parquet_path) if os.path.exists(p)]
        still = min(time.time() - max(os.stat(p).st_mtime, os.stat(p).st_ctime) for p in written)
        if still < 40:
            print(f"   waiting {40 - still:.0f} s: the file was just written", file=sys.stderr)
            time.sleep(40 - still)
        tools = []
        counts = {}

        # polsim remembers the SHA-256 of a file it has read (for the report's
        # manifest) and skips hashing on reruns. Rows without "hash cached"
        # turn that off, so every run does the work of a first run over new
        # data; the "hash cached" row is a rerun over an unchanged file, with
        # a cache of its own under bench-data/ (filled by the warm-up).
        def polsim(label, extra, cache="off", policy=args.policy, data=path):
            return label, [args.polsim, *extra, policy, "--data", data, "--quiet"], \
                {"POLSIM_CACHE_DIR": cache}

        def python(label, worker, env=None, data=path):
            return label, [sys.executable, me, worker, data], env

        decide_out = os.path.join(tempfile.gettempdir(), "polsim-compare-decisions.csv")
        cache_dir = os.path.join(os.path.dirname(os.path.abspath(path)), ".polsim-cache")
        jobs = [
            polsim("polsim simulate (--threads 1)", ["simulate", "--format", "json", "--threads", "1"]),
            polsim("polsim simulate (--threads 2)", ["simulate", "--format", "json", "--threads", "2"]),
            polsim("polsim simulate (--threads 1, hash cached)",
                   ["simulate", "--format", "json", "--threads", "1"], cache_dir),
            polsim("polsim simulate (--threads 2, hash cached)",
                   ["simulate", "--format", "json", "--threads", "2"], cache_dir),
            polsim("polsim decide (--threads 2)", ["decide", "-o", decide_out, "--threads", "2"]),
            python("DuckDB (2 threads)", "duckdb"),
            python("Polars (2 threads, streaming)", "polars", {"POLARS_MAX_THREADS": str(THREADS)}),
        ]
        # The same query over a typed Parquet copy of the file (compare.sh
        # makes it beside the CSV), polsim against Polars and DuckDB.
        parquet = {}  # label -> the tool's kind
        if os.path.exists(parquet_path):
            two = ["simulate", "--format", "json", "--threads", "2"]
            for label, job in [
                ("polsim simulate Parquet (--threads 2)",
                 polsim("", two, data=parquet_path)),
                ("polsim simulate Parquet (--threads 2, hash cached)",
                 polsim("", two, cache_dir, data=parquet_path)),
                ("Polars scan_parquet (2 threads, streaming)",
                 python("", "polars-parquet", {"POLARS_MAX_THREADS": str(THREADS)}, parquet_path)),
                ("DuckDB read_parquet (2 threads)", python("", "duckdb-parquet", data=parquet_path)),
            ]:
                parquet[label] = label.split()[0]
                jobs.append((label, *job[1:]))
        # Rhai policies: hash cache on, so that they compare evaluation, not hashing.
        rhai = {}  # label -> policy file name
        for policy in args.rhai_policy:
            label = f"polsim simulate {policy} (--threads 2)"
            rhai[label] = os.path.basename(policy)
            jobs.append(polsim(label, ["simulate", "--format", "json", "--threads", "2"],
                               cache_dir, os.path.join(ROOT, policy)))
        # The shared pass: compare and a 20-point sweep against one simulate,
        # all of jd_plus, all rereading a file whose hash is cached.
        jd_plus = os.path.join(ROOT, "policies/jd_plus.yaml")
        two = ["--format", "json", "--threads", "2"]
        passes = {  # label -> short name
            "polsim simulate jd_plus (pass reference)": "simulate",
            "polsim compare jd_plus --challenger-set min_score=620": "compare",
            "polsim sweep jd_plus --param min_score=500..690:10 (20 points)": "sweep",
            "polsim check jd_plus --data": "check",
        }
        extra = {
            "simulate": ["simulate", *two],
            "compare": ["compare", "--challenger-set", "min_score=620", *two],
            "sweep": ["sweep", "--param", "min_score=500..690:10", *two],
            "check": ["check", "--threads", "2"],
        }
        for label, short in passes.items():
            jobs.append(polsim(label, extra[short], cache_dir, jd_plus))
        monte_carlo = {}  # label -> trials flag ("" for the plain run)
        if rows == MC_ROWS:
            mc_policy = os.path.join(ROOT, "benches/monte_carlo.yaml")
            for flag in ["", "--trials 1", "--trials 1000"]:
                label = f"polsim simulate monte_carlo.yaml {flag or '(plain)'}"
                monte_carlo[label] = flag
                jobs.append(polsim(label, ["simulate", *two, *flag.split()], cache_dir, mc_policy))
        all_runs = interleaved(jobs)
        for label, argv, env in jobs:
            runs = all_runs[label]
            best = runs[0]
            query_s = None
            if label in monte_carlo:
                report = json.loads(best.stdout)
                counts[label] = None
                if report["approved"] != rows:
                    failures.append(f"{label}: {report['approved']} approved, expected {rows}")
                trials = report["repayment"].get("trials")
                if monte_carlo[label] and trials != int(monte_carlo[label].split()[1]):
                    failures.append(f"{label}: {trials} trials reported")
            elif label in passes:
                out = best.stdout
                short = passes[label]
                if short == "simulate":
                    counts[label] = json.loads(out)["approved"]
                elif short == "compare":
                    counts[label] = json.loads(out)["champion"]["approved"]
                elif short == "sweep":
                    point = next(p for p in json.loads(out)["points"] if p["params"]["min_score"] == 600)
                    counts[label] = point["approved"]
                else:
                    counts[label] = None
            elif label.startswith("polsim simulate"):
                report = json.loads(best.stdout)
                counts[label] = report["approved"]
                if report["rows"] != rows:
                    failures.append(f"{label} on {path}: {report['rows']} rows, expected {rows}")
            elif label.startswith("polsim decide"):
                # Not timed: the decisions file (of the last run) must approve the same rows.
                with open(decide_out, "rb") as f:
                    counts[label] = sum(1 for line in f if b",approve," in line)
                os.remove(decide_out)
            else:
                counts[label] = json.loads(best.stdout)["approved"]
                query_s = min(json.loads(r.stdout)["query_s"] for r in runs)
            print(f"   {label}: best {best.wall:.3f} s wall, {best.cpu:.2f} s cpu; other load "
                  f"{best.others:.0%}; {len(runs)} run(s) kept", file=sys.stderr)
            if best.others > CONTENDED:
                contended.append(f"{label} on {os.path.basename(path)}: other processes used "
                                 f"{best.others:.0%} of the machine during the best run")
            tools.append((label, best, query_s, max(r.rss_mib for r in runs)))

        mc_plain = next((t[1].wall for t in tools if monte_carlo.get(t[0]) == ""), None)
        for label, best, _, _ in tools:
            if label in monte_carlo and monte_carlo[label]:
                target, met = MC_TARGETS[monte_carlo[label]]
                verdict = "met" if met(best.wall, mc_plain) else "not met"
                mc_results.append((label.removeprefix("polsim simulate "), rows, best.wall, best.cpu,
                                   best.wall / mc_plain, target, verdict))
        polars_parquet = next((t[1].wall for t in tools if parquet.get(t[0]) == "Polars"), None)
        for label, best, query_s, _ in tools:
            if label in parquet:
                ratio = best.wall / polars_parquet
                # The target is like for like: polsim reading and deciding,
                # as Polars reads and filters. A first run also hashes the
                # whole file for the manifest, work Polars does not do (the
                # same convention as the headline CSV figure).
                target, verdict = "", ""
                if label.endswith("hash cached)"):
                    target = PARQUET_TARGET[0]
                    verdict = "met" if ratio <= PARQUET_TARGET[1] else "not met"
                elif parquet[label] == "polsim":
                    target = "(also hashes the file)"
                parquet_results.append((label, rows, best.wall, "" if query_s is None else f"{query_s:.3f}",
                                        best.cpu, ratio, target, verdict))
        agree = {k: v for k, v in counts.items() if k not in rhai and k not in passes and k not in monte_carlo}
        same_pass = {k: v for k, v in counts.items() if k in passes and v is not None}
        if len(set(same_pass.values())) != 1:
            failures.append(f"jd_plus approved counts disagree on {path}: " +
                            ", ".join(f"{k}={v:,}" for k, v in same_pass.items()))
        pass_ref = next(t[1].wall for t in tools if passes.get(t[0]) == PASS_REFERENCE)
        for label, best, _, _ in tools:
            if label in passes:
                short = passes[label]
                ratio = best.wall / pass_ref
                target, limit = PASS_TARGETS.get(short, ("", None))
                verdict = "" if limit is None else "met" if ratio <= limit else "not met"
                pass_results.append((label.removeprefix("polsim "), rows, best.wall, best.cpu,
                                     ratio, target, verdict))
        if len(set(agree.values())) != 1:
            failures.append(f"approved counts disagree on {path}: " +
                            ", ".join(f"{k}={v:,}" for k, v in agree.items()))
        else:
            print(f"   approved: {next(iter(agree.values())):,} in every tool", file=sys.stderr)
        same = {k: v for k, v in counts.items() if rhai.get(k) in RHAI_SAME_COUNT}
        if len(same) == len(RHAI_SAME_COUNT):
            if len(set(same.values())) != 1:
                failures.append(f"approved counts disagree on {path}: " +
                                ", ".join(f"{k}={v:,}" for k, v in same.items()))
            else:
                print(f"   approved: {next(iter(same.values())):,} in " +
                      " and ".join(RHAI_SAME_COUNT), file=sys.stderr)
        reference = next(t[1].wall for t in tools if t[0] == "polsim simulate (--threads 2)")
        for label, best, query_s, rss in tools:
            if label in passes or label in monte_carlo or label in parquet:
                continue
            results.append((label, rows, best, query_s, rss, counts[label], best.wall / reference))
        rhai_ref = next((t[1].wall for t in tools if rhai.get(t[0]) == RHAI_REFERENCE), None)
        for label, best, _, _ in tools:
            if label in rhai:
                ratio = None if rhai_ref is None else best.wall / rhai_ref
                target, met = RHAI_TARGETS.get(rhai[label], ("", None))
                verdict = "" if met is None else "met" if met(ratio, rows / best.wall) else "not met"
                rhai_results.append((label.removeprefix("polsim simulate ").removesuffix(" (--threads 2)"),
                                     rows, best.wall, ratio, target, verdict))

    header = ("tool", "rows", "wall s", "query s", "cpu s", "rows/s", "peak RSS MB",
              "wall / polsim simulate 2t", "approved")
    table = [header] + [
        (label, f"{rows:,}", f"{r.wall:.3f}", "" if q is None else f"{q:.3f}", f"{r.cpu:.2f}",
         f"{rows / r.wall / 1e6:.2f}M", f"{rss:.0f}", f"{ratio:.2f}", f"{approved:,}")
        for label, rows, r, q, rss, approved, ratio in results
    ]
    print()
    print_table(table)
    rhai_note = (' and the Rhai policies:\n  reruns that reuse the hash. '
                 'The Rhai policies approve by their own rules.'
                 if rhai_results else ': a rerun that reuses the hash.')
    print(f"""
wall s: the whole process (for DuckDB and Polars: Python start-up and import
  included), best of {RUNS} runs on an otherwise idle machine, after 1 warm-up;
  the tools take turns, one run each per round. rows/s and the ratio use it.
query s: DuckDB/Polars only, the query alone, timed inside the Python process.
polsim rows hash the whole file for the manifest's data_sha256 on every run
  (POLSIM_CACHE_DIR=off), except "hash cached"{rhai_note}
cpu s: user + system CPU of the best run (all threads, all cores).
peak RSS: the largest of the timed runs ({'/usr/bin/time %M' if GNU_TIME else 'wait4 rusage'}).""")
    def ratio_table(ratio_header, results):
        header = ("command", "rows", "wall s", "cpu s", ratio_header, "target", "status")
        return [header] + [
            (label, f"{rows:,}", f"{wall:.3f}", f"{cpu:.2f}", f"{ratio:.2f}", target, verdict)
            for label, rows, wall, cpu, ratio, target, verdict in results
        ]

    # The tables after the first, each with its title; empty ones left out.
    sections = [("The shared pass (jd_plus, --threads 2, hash cached)",
                 ratio_table("wall / simulate jd_plus", pass_results))]
    if parquet_results:
        parquet_header = ("tool", "rows", "wall s", "query s", "cpu s", "wall / Polars", "target", "status")
        sections.append(("Parquet (a typed copy of the same file, zstd, row groups of 500,000)",
                         [parquet_header] + [
                             (label, f"{rows:,}", f"{wall:.3f}", query, f"{cpu:.2f}", f"{ratio:.2f}",
                              target, verdict)
                             for label, rows, wall, query, cpu, ratio, target, verdict in parquet_results
                         ]))
    if mc_results:
        sections.append(("The Monte Carlo (every row approved, --threads 2, hash cached)",
                         ratio_table("wall / plain simulate", mc_results)))
    if rhai_results:
        rhai_header = ("policy", "rows", "wall s", "rows/s", f"wall / {RHAI_REFERENCE}", "target", "status")
        sections.append(("Rhai policies (polsim simulate --threads 2, hash cached)", [rhai_header] + [
            (policy, f"{rows:,}", f"{wall:.3f}", f"{rows / wall / 1e6:.2f}M",
             "" if ratio is None else f"{ratio:.2f}", target, verdict)
            for policy, rows, wall, ratio, target, verdict in rhai_results
        ]))
    for title, section in sections:
        print(f"\n{title}\n")
        print_table(section)
    if args.markdown:
        with open(args.markdown, "w") as f:
            write_markdown(f, table)
            for title, section in sections:
                f.write(f"\n{title}\n\n")
                write_markdown(f, section)
        print(f"(markdown copy: {args.markdown})")
    if contended:
        print("\nwarning: the machine was not idle; these wall times are pessimistic:\n  " +
              "\n  ".join(contended), file=sys.stderr)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--polsim", required=True)
    b.add_argument("--policy", required=True)
    b.add_argument("--rhai-policy", action="append", default=[], metavar="YAML",
                   help="a Rhai policy to time too, relative to the repo root (repeatable)")
    b.add_argument("--markdown")
    b.add_argument("files", nargs="+")
    workers = {"duckdb": run_duckdb, "polars": run_polars,
               "duckdb-parquet": run_duckdb_parquet, "polars-parquet": run_polars_parquet}
    for name in workers:
        sub.add_parser(name).add_argument("file")
    t = sub.add_parser("to-parquet")
    t.add_argument("csv")
    t.add_argument("out")
    args = p.parse_args()
    if args.cmd == "bench":
        if not os.access(args.polsim, os.X_OK):
            sys.exit(f"no polsim binary at {args.polsim}")
        bench(args)
    elif args.cmd == "to-parquet":
        to_parquet(args.csv, args.out)
    else:
        print(json.dumps(workers[args.cmd](args.file)))


if __name__ == "__main__":
    main()
