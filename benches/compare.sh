#!/usr/bin/env bash
# Compares polsim with DuckDB and Polars on the 5-rule approval query
# (benches/bench5.yaml) over 1M- and 10M-row synthetic datasets, and times
# polsim alone on the Rhai policies (policies/jd_plus.yaml, jd_plus_expr.yaml,
# merchant_script.yaml) on the same files, in a second table, and the shared
# pass in a third: `compare` of jd_plus against its 620 cutoff, a 20-point
# `sweep` and `check`, each as a ratio to one `simulate` of jd_plus (targets:
# compare <= 1.3x, sweep <= 2x), and the Monte Carlo in a fourth (benches/
# monte_carlo.yaml on the 1M-row file: `--trials 1` <= 1.5x a plain simulate,
# `--trials 1000`, 10^9 draws, <= 2 s), and the query over a typed Parquet copy
# of each file in a fifth (polsim against Polars' and DuckDB's Parquet readers;
# target: polsim <= 0.5x Polars).
#
#   bash benches/compare.sh            # from anywhere; takes several minutes
#   ROWS="1000000" bash benches/compare.sh   # only some sizes
#   RUNS=5 bash benches/compare.sh           # best of 5 instead of 3
#   RHAI=0 bash benches/compare.sh           # without the Rhai policies
#
# Builds polsim in release mode, installs DuckDB and Polars with pip if they
# are missing, generates the datasets into bench-data/ (gitignored; reused when
# present), then times every tool (best of 3 after a warm-up that also warms
# the page cache) and measures its peak RSS. Fails if the tools disagree on
# the approved count (and if jd_plus.yaml and jd_plus_expr.yaml disagree).
# Not run in CI.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ROWS="${ROWS:-1000000 10000000}"
RHAI="${RHAI:-1}"
PYTHON="${PYTHON:-python3}"
data_dir="$root/bench-data"

echo "== building polsim (release)" >&2
cargo build --release --quiet
polsim="$root/target/release/polsim"

if ! "$PYTHON" -c 'import duckdb, polars' 2>/dev/null; then
    echo "== installing duckdb and polars (pip)" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check duckdb polars
fi

if [[ ! -x /usr/bin/time ]]; then
    echo "== installing GNU time (apt-get)" >&2
    if command -v apt-get >/dev/null; then
        { apt-get update -qq && apt-get install -y -qq time; } >/dev/null 2>&1 ||
            echo "   could not install time; peak RSS comes from wait4 rusage instead" >&2
    fi
fi

mkdir -p "$data_dir"
files=()
for rows in $ROWS; do
    file="$data_dir/users_${rows}_seed42.csv"
    # Rows are LF-terminated with one header line: a complete file has rows+1 lines.
    if [[ ! -s "$file" ]] || [[ "$(wc -l <"$file")" -ne $((rows + 1)) ]]; then
        echo "== generating $file" >&2
        "$polsim" gen --rows "$rows" --seed 42 -o "$file.part"
        mv "$file.part" "$file"
    fi
    parquet="${file%.csv}.parquet"
    if [[ ! -s "$parquet" || "$parquet" -ot "$file" ]]; then
        echo "== writing $parquet (a typed copy, with Polars)" >&2
        "$PYTHON" "$root/benches/compare.py" to-parquet "$file" "$parquet.part"
        mv "$parquet.part" "$parquet"
    fi
    files+=("$file")
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB" >&2
echo "== versions: $("$polsim" --version), duckdb $("$PYTHON" -c 'import duckdb; print(duckdb.__version__)'), polars $("$PYTHON" -c 'import polars; print(polars.__version__)')" >&2

if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    dirty=""
    git -C "$root" diff --quiet HEAD -- src Cargo.toml Cargo.lock || dirty=" (with uncommitted changes to src/ or Cargo.*)"
    echo "== polsim source: commit $(git -C "$root" rev-parse --short HEAD)$dirty" >&2
fi

rhai=()
if [[ "$RHAI" != 0 ]]; then
    # Relative to the repo root (compare.py resolves them there).
    for policy in policies/jd_plus.yaml policies/jd_plus_expr.yaml policies/merchant_script.yaml; do
        rhai+=(--rhai-policy "$policy")
    done
fi

exec "$PYTHON" "$root/benches/compare.py" bench \
    --polsim "$polsim" \
    --policy "$root/benches/bench5.yaml" \
    "${rhai[@]}" \
    --markdown "$data_dir/compare.md" \
    "${files[@]}"
