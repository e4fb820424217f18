"""What the Spark and Ray recipes share: merge the partials a cluster made
with `polsim merge`, run polsim once over the whole file, and check the two
reports agree (all but the manifest's data fields, which a merged report
replaces by the list of parts)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def arguments(doc, units):
    """The recipes' options: `--polsim`, `--policy`, `--data`, `--UNITS`
    (how many partitions or blocks), and more `simulate` options after `--`.
    Returns the options, polsim's and the policy's paths, and the options."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--polsim", default=os.path.join(ROOT, "target/release/polsim"))
    p.add_argument("--policy", default=os.path.join(ROOT, "policies/jd_plus.yaml"))
    p.add_argument("--data", default=os.path.join(ROOT, "datasets/sample.csv"))
    p.add_argument(f"--{units}", type=int, default=4)
    p.add_argument("extra", nargs="*", help="more simulate options, e.g. --by city_tier --trials 1000")
    args = p.parse_args()
    extra = args.extra or ["--by", "city_tier", "--trials", "200"]
    return args, os.path.abspath(args.polsim), os.path.abspath(args.policy), extra


def comparable(report):
    report["manifest"].pop("parts", None)
    report["manifest"].pop("data_sha256", None)
    return report


def merge_and_check(polsim, policy, data, extra, partials, label, started):
    """Merges `partials` (their texts), compares with a direct run, prints
    both times (`label` names the cluster's units), exits 1 on a mismatch."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, text in enumerate(partials):
            path = os.path.join(tmp, f"part{i}.partial")
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        merged = subprocess.run([polsim, "merge", *paths, "--format", "json"],
                                capture_output=True, text=True, check=True).stdout
    cluster_s = time.perf_counter() - started
    start = time.perf_counter()
    whole = subprocess.run([polsim, "simulate", policy, "--data", data, "--format", "json", "--quiet", *extra],
                           capture_output=True, text=True, check=True).stdout
    direct_s = time.perf_counter() - start
    merged, whole = json.loads(merged), json.loads(whole)
    parts = merged["manifest"]["parts"]
    print(f"{label}: {len(parts)} parts, {sum(p['rows'] for p in parts):,} rows, {cluster_s:.2f} s "
          f"(the job and the merge); one polsim run: {direct_s:.2f} s")
    if comparable(merged) != comparable(whole):
        print("FAILED: the merged report differs from the direct run", file=sys.stderr)
        sys.exit(1)
    print("the merged report equals the direct run's")
