"""polsim on Ray (`ray.data`), the no-Java alternative to Spark, locally.

Reads a table with `ray.data` (Parquet, or CSV with every column as text),
hands each block to `polsim simulate --data - --emit partial` in
`map_batches` (the block written to polsim's standard input as an Arrow IPC
stream), merges the partials with `polsim merge`, and checks the merged
report equals one `polsim simulate` over the whole file (but for the
manifest's data fields).

    pip install "ray[data]"
    python3 examples/ray/run_local.py                   # the bundled sample
    python3 examples/ray/run_local.py --data big.csv -- --trials 1000
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def comparable(report):
    report["manifest"].pop("parts", None)
    report["manifest"].pop("data_sha256", None)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--polsim", default=os.path.join(ROOT, "target/release/polsim"))
    p.add_argument("--policy", default=os.path.join(ROOT, "policies/jd_plus.yaml"))
    p.add_argument("--data", default=os.path.join(ROOT, "datasets/sample.csv"))
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("extra", nargs="*", help="more simulate options, e.g. --by city_tier --trials 1000")
    args = p.parse_args()
    polsim, policy = os.path.abspath(args.polsim), os.path.abspath(args.policy)
    extra = args.extra or ["--by", "city_tier", "--trials", "200"]

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.ipc as ipc
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    if args.data.endswith(".parquet"):
        ds = ray.data.read_parquet(args.data)
    else:
        with open(args.data) as f:
            header = f.readline().rstrip("\r\n").split(",")
        # Every column as text, exactly as written: polsim types the cells.
        convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in header})
        ds = ray.data.read_csv(args.data, convert_options=convert)
    ds = ds.repartition(args.blocks)

    def simulate_block(table: pa.Table) -> pa.Table:
        import io
        buf = io.BytesIO()
        with ipc.new_stream(buf, table.schema) as writer:
            writer.write_table(table)
        run = subprocess.run(
            [polsim, "simulate", policy, "--data", "-", "--emit", "partial", "--quiet", *extra],
            input=buf.getvalue(), capture_output=True)
        if run.returncode != 0:
            raise RuntimeError(run.stderr.decode())
        return pa.table({"partial": [run.stdout.decode()]})

    start = time.perf_counter()
    partials = [r["partial"] for r in ds.map_batches(simulate_block, batch_format="pyarrow", batch_size=None).take_all()]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, text in enumerate(partials):
            path = os.path.join(tmp, f"part{i}.partial")
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        merged = subprocess.run([polsim, "merge", *paths, "--format", "json"],
                                capture_output=True, text=True, check=True).stdout
    ray_s = time.perf_counter() - start
    ray.shutdown()

    start = time.perf_counter()
    whole = subprocess.run([polsim, "simulate", policy, "--data", args.data, "--format", "json", "--quiet", *extra],
                           capture_output=True, text=True, check=True).stdout
    direct_s = time.perf_counter() - start
    merged, whole = json.loads(merged), json.loads(whole)
    parts = merged["manifest"]["parts"]
    print(f"ray.data: {len(parts)} blocks, {sum(p['rows'] for p in parts):,} rows, {ray_s:.2f} s "
          f"(map_batches and merge); one polsim run: {direct_s:.2f} s")
    if comparable(merged) != comparable(whole):
        print("FAILED: the merged report differs from the direct run", file=sys.stderr)
        sys.exit(1)
    print("the merged report equals the direct run's")


if __name__ == "__main__":
    main()
