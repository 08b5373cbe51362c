#!/usr/bin/env bash
# Smoke-runs every fuzz target listed as a [[bin]] in fuzz/Cargo.toml for FUZZ_SECONDS each
# (default 20), on the stable toolchain through RUSTC_BOOTSTRAP=1. Exits non-zero if any target
# crashes (the input is saved under fuzz/artifacts/<target>/).
#
#   bash fuzz/smoke.sh                  # every target
#   bash fuzz/smoke.sh spiffe_id        # only these
#   FUZZ_SECONDS=60 FUZZ_SANITIZER=none bash fuzz/smoke.sh
#
# The checked-in seeds in fuzz/corpus/<target>/ are passed as the second corpus directory,
# which libFuzzer only reads; new inputs go to a temporary first directory that is deleted
# on exit, so a smoke run never changes the checked-in corpus.
#
# Installs cargo-fuzz 0.13.2 when it is missing (about 2 minutes on a 2-core machine); set
# FUZZ_NO_INSTALL=1 to fail with exit code 2 instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
# cargo-fuzz keeps its own target dir (fuzz/target); an inherited one would mix RUSTFLAGS.
unset CARGO_TARGET_DIR

# A fresh machine (CI) has no cargo-fuzz: install the pinned version (about 2 minutes),
# unless FUZZ_NO_INSTALL=1.
cargo_fuzz_version="0.13.2"
if ! cargo fuzz --version >/dev/null 2>&1; then
    if [[ "${FUZZ_NO_INSTALL:-0}" == 1 ]]; then
        echo "smoke.sh: cargo-fuzz is not installed; run:" \
            "cargo install cargo-fuzz --locked --version $cargo_fuzz_version" >&2
        exit 2
    fi
    echo "smoke.sh: installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    # The `name = "..."` line of every [[bin]] table.
    mapfile -t targets < <(awk '
        /^\[\[bin\]\]/ { in_bin = 1; next }
        /^\[/          { in_bin = 0 }
        in_bin && /^name[[:space:]]*=/ { gsub(/[" ]/, "", $0); sub(/^name=/, "", $0); print }
    ' Cargo.toml)
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "smoke.sh: no [[bin]] targets found in fuzz/Cargo.toml" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

flags=(--sanitizer "$sanitizer")
echo "smoke.sh: building ${targets[*]} (sanitizer: $sanitizer)"
for target in "${targets[@]}"; do
    cargo fuzz build "${flags[@]}" "$target"
done

failed=()
for target in "${targets[@]}"; do
    seeds="corpus/$target"
    if [[ ! -d "$seeds" ]]; then
        echo "smoke.sh: missing seed corpus fuzz/$seeds" >&2
        failed+=("$target")
        continue
    fi
    mkdir -p "$work/$target"
    log="$work/$target.log"
    echo "smoke.sh: fuzzing $target for ${seconds}s"
    if cargo fuzz run "${flags[@]}" "$target" "$work/$target" "$seeds" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | sed "s/^/  $target: /" || true
        grep -E '^stat::number_of_executed_units' "$log" | sed "s/^/  $target: /" || true
    else
        echo "smoke.sh: $target FAILED; the panic and the end of its log:" >&2
        grep -E -A3 'panicked at' "$log" | head -n 12 >&2 || true
        echo "  ..." >&2
        tail -n 40 "$log" >&2
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "smoke.sh: failing targets: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "smoke.sh: ${#targets[@]} targets ran ${seconds}s each without a crash"
