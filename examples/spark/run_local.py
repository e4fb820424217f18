"""polsim on Apache Spark, end to end, in local mode.

Reads a table into Spark (Parquet, or CSV with every column as text),
hands every partition to `polsim simulate --data - --emit partial` with
`mapInArrow` (the partition's Arrow batches written to polsim's standard
input as an Arrow IPC stream), collects the partials on the driver, merges
them with `polsim merge`, and checks that the merged report equals one
`polsim simulate` over the whole file (all but the manifest's data fields,
which a merged report replaces by the list of parts).

    python3 examples/spark/run_local.py                 # the bundled sample, 4 partitions
    python3 examples/spark/run_local.py --data big.csv --partitions 8 -- --trials 1000

Needs PySpark with pyarrow (`pip install "pyspark[sql]"`) and Java 17; builds nothing: pass
`--polsim PATH` (default: target/release/polsim). On a cluster, ship the
binary with `spark-submit --files target/release/polsim` (it lands in each
executor's working directory) or install the wheel (`pip install
polsim-*.whl`, see README) on every worker, and pass `--polsim polsim`.
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
    manifest = report["manifest"]
    manifest.pop("parts", None)
    manifest.pop("data_sha256", None)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--polsim", default=os.path.join(ROOT, "target/release/polsim"))
    p.add_argument("--policy", default=os.path.join(ROOT, "policies/jd_plus.yaml"))
    p.add_argument("--data", default=os.path.join(ROOT, "datasets/sample.csv"))
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("extra", nargs="*", help="more simulate options, e.g. --by city_tier --trials 1000")
    args = p.parse_args()
    polsim, policy = os.path.abspath(args.polsim), os.path.abspath(args.policy)
    extra = args.extra or ["--by", "city_tier", "--trials", "200"]

    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("polsim")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    if args.data.endswith(".parquet"):
        df = spark.read.parquet(args.data)
    else:
        # Every column as text, exactly as written: polsim types the cells.
        df = spark.read.option("header", True).option("inferSchema", False).csv(args.data)

    def simulate_partition(batches):
        import io

        import pyarrow as pa
        import pyarrow.ipc as ipc

        sink, writer = io.BytesIO(), None
        for batch in batches:
            if writer is None:
                writer = ipc.new_stream(sink, batch.schema)
            writer.write_batch(batch)
        if writer is None:
            return
        writer.close()
        run = subprocess.run(
            [polsim, "simulate", policy, "--data", "-", "--emit", "partial", "--quiet", *extra],
            input=sink.getvalue(), capture_output=True)
        if run.returncode != 0:
            raise RuntimeError(run.stderr.decode())
        yield pa.RecordBatch.from_pydict({"partial": [run.stdout.decode()]})

    start = time.perf_counter()
    parts = df.repartition(args.partitions).mapInArrow(simulate_partition, "partial string")
    partials = [row.partial for row in parts.collect()]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, text in enumerate(partials):
            path = os.path.join(tmp, f"part{i}.partial")
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        merged = subprocess.run([polsim, "merge", *paths, "--format", "json"],
                                capture_output=True, text=True, check=True).stdout
    spark_s = time.perf_counter() - start
    spark.stop()

    start = time.perf_counter()
    whole = subprocess.run([polsim, "simulate", policy, "--data", args.data, "--format", "json", "--quiet", *extra],
                           capture_output=True, text=True, check=True).stdout
    direct_s = time.perf_counter() - start
    merged, whole = json.loads(merged), json.loads(whole)
    parts = merged["manifest"]["parts"]
    print(f"spark local[2]: {len(parts)} partitions, {sum(p['rows'] for p in parts):,} rows, {spark_s:.2f} s "
          f"(Spark job and merge); one polsim run: {direct_s:.2f} s")
    if comparable(merged) != comparable(whole):
        print("FAILED: the merged report differs from the direct run", file=sys.stderr)
        sys.exit(1)
    print("the merged report equals the direct run's")


if __name__ == "__main__":
    main()
