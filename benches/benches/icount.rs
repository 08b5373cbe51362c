//! Instruction counts (callgrind) for the parse operations of `benches/spiffe_id.rs`, the
//! numbers to compare across runs and machines: wall-clock times on a shared 2-core VM move by
//! ±30% from run to run, instruction counts by a handful.
//!
//! `cargo bench -p benches --bench icount` re-runs this binary under
//! `valgrind --tool=callgrind` once with N and once with 2N iterations of each operation and
//! prints (count(2N) - count(N)) / N, so start-up and set-up cancel out. Without valgrind it
//! says so and exits 0. This counts instructions, not time: allocation and cache misses are
//! cheaper here than on the clock.

#![allow(
    clippy::unwrap_used,
    reason = "bench harness: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;

use spiffe_id::{SpiffeId, TrustDomain};

/// The typical workload ID: exactly 39 bytes (same as `spiffe_id.rs`).
const ID_39: &str = "spiffe://example.org/ns/default/sa/web1";
const _: () = assert!(ID_39.len() == 39);

/// Iterations of the shorter run.
const N: u32 = 10_000;

/// A valid ID of exactly 2048 bytes (same as `spiffe_id.rs`).
fn id_2k() -> String {
    let mut id = String::from("spiffe://example.org");
    let mut n = 0u32;
    while id.len() + 16 <= 2048 {
        id.push_str(&format!("/segment-{n:06}"));
        n += 1;
    }
    let pad = 2048 - id.len() - 1;
    id.push('/');
    id.push_str(&"p".repeat(pad));
    id
}

/// Groups of operation names (see [`run`]); the first of each group is ours, the `spiffe/`
/// entries are compared with it, everything else with the `baseline/` entry.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "parse_id_39",
        &[
            "ours/parse_39",
            "ours/parse_bytes_39",
            "spiffe/new_39",
            "baseline/arc_str_39",
        ],
    ),
    (
        "parse_id_2k",
        &[
            "ours/parse_2k",
            "ours/parse_bytes_2k",
            "spiffe/new_2k",
            "baseline/arc_str_2k",
        ],
    ),
    (
        "trust_domain_parse",
        &["ours/td_parse", "spiffe/td_new", "baseline/arc_str_td"],
    ),
];

/// Runs `op` `iterations` times. Returns false for an unknown name.
fn run(op: &str, iterations: u32) -> bool {
    let long = id_2k();
    let input = if op.ends_with("_2k") {
        long.as_str()
    } else {
        ID_39
    };
    let repeat = |f: &dyn Fn()| (0..iterations).for_each(|_| f());
    match op {
        "ours/parse_39" | "ours/parse_2k" => repeat(&|| {
            black_box(SpiffeId::parse(black_box(input)).unwrap());
        }),
        "ours/parse_bytes_39" | "ours/parse_bytes_2k" => repeat(&|| {
            black_box(SpiffeId::parse_bytes(black_box(input.as_bytes())).unwrap());
        }),
        "spiffe/new_39" | "spiffe/new_2k" => repeat(&|| {
            black_box(spiffe::SpiffeId::new(black_box(input)).unwrap());
        }),
        "baseline/arc_str_39" | "baseline/arc_str_2k" => repeat(&|| {
            black_box(Arc::<str>::from(black_box(input)));
        }),
        "ours/td_parse" => repeat(&|| {
            black_box(TrustDomain::parse(black_box("example.org")).unwrap());
        }),
        "spiffe/td_new" => repeat(&|| {
            black_box(spiffe::TrustDomain::new(black_box("example.org")).unwrap());
        }),
        "baseline/arc_str_td" => repeat(&|| {
            black_box(Arc::<str>::from(black_box("example.org")));
        }),
        _ => return false,
    }
    true
}

/// Instructions callgrind counted for `op` run `iterations` times in a child process.
fn collected(op: &str, iterations: u32) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--run", op, &iterations.to_string()])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|l| l.contains("Collected :"))?;
    line.rsplit(' ').next()?.trim().parse().ok()
}

fn per_iteration(op: &str) -> Option<u64> {
    let once = collected(op, N)?;
    let twice = collected(op, 2 * N)?;
    Some(twice.saturating_sub(once) / u64::from(N))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, op, iterations] = args.as_slice() {
        if flag == "--run" {
            assert!(run(op, iterations.parse().unwrap()), "unknown op {op}");
            return;
        }
    }
    // `cargo bench` passes `--bench`. Anything else (`cargo test --benches`): run every
    // operation once in-process, so a broken op still fails fast, and skip the counting.
    if !args.iter().any(|a| a == "--bench") {
        for (_, ops) in GROUPS {
            for op in *ops {
                assert!(run(op, 1), "unknown op {op}");
            }
        }
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("icount: valgrind not found; skipping instruction counts");
        return;
    }
    println!("instructions per iteration (callgrind; lower is better)");
    for (group, ops) in GROUPS {
        println!("{group}");
        let counts: Vec<(&str, Option<u64>)> =
            ops.iter().map(|op| (*op, per_iteration(op))).collect();
        let ours = counts.first().and_then(|(_, c)| *c);
        let baseline = counts
            .iter()
            .find(|(op, _)| op.starts_with("baseline/"))
            .and_then(|(_, c)| *c);
        for (op, count) in &counts {
            let Some(count) = count else {
                println!("  {op:<24} failed under valgrind");
                continue;
            };
            let mut notes = Vec::new();
            if let (Some(base), false) = (baseline, op.starts_with("baseline/")) {
                notes.push(format!("{:.2}x baseline", ratio(*count, base)));
            }
            if let (Some(ours), true) = (ours, op.starts_with("spiffe/")) {
                notes.push(format!(
                    "ours: {:.2}x fewer instructions",
                    ratio(*count, ours)
                ));
            }
            println!("  {op:<24} {count:>8}   {}", notes.join("; "));
        }
    }
}

/// `a / b` for display.
fn ratio(a: u64, b: u64) -> f64 {
    // Per-iteration counts stay far below u32::MAX, so the conversion is exact.
    let to_f64 = |x: u64| f64::from(u32::try_from(x).unwrap_or(u32::MAX));
    to_f64(a) / to_f64(b.max(1))
}
