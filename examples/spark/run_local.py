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

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from partials_check import arguments, merge_and_check  # noqa: E402


def main():
    args, polsim, policy, extra = arguments(__doc__, "partitions")

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
    merge_and_check(polsim, policy, args.data, extra, partials, "spark local[2]", start)
    spark.stop()


if __name__ == "__main__":
    main()
