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

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from partials_check import arguments, merge_and_check  # noqa: E402


def main():
    args, polsim, policy, extra = arguments(__doc__, "blocks")

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
    merge_and_check(polsim, policy, args.data, extra, partials, "ray.data", start)
    ray.shutdown()


if __name__ == "__main__":
    main()
