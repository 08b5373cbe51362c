//! The code samples in README.md are compiled: the `rust` block (the ID layer) is the body of
//! `id_sample_runs` below, and the `rust,ignore` block (the mTLS server, which needs a Workload
//! API) is `examples/mtls-server.rs`. These tests fail when a sample and its compiled copy drift
//! apart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use std::path::Path;

/// The fenced blocks of `markdown` whose info string is `info`, one string per block.
fn fenced_blocks(markdown: &str, info: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, fence) if fence == format!("```{info}") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default().join("\n")),
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// The lines of `source` between a line `// README: begin` and a line `// README: end`,
/// unindented by the begin marker's indentation.
fn marked_region(source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let begin = lines
        .iter()
        .position(|line| line.trim() == "// README: begin")
        .expect("begin marker");
    let end = lines
        .iter()
        .position(|line| line.trim() == "// README: end")
        .expect("end marker");
    let indent = lines[begin].len() - lines[begin].trim_start().len();
    lines[begin + 1..end]
        .iter()
        .map(|line| line.get(indent..).unwrap_or_else(|| line.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
}

fn read(relative: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(relative)).expect(relative)
}

#[test]
fn readme_mtls_server_is_the_compiled_example() {
    let readme = read("README.md");
    let blocks = fenced_blocks(&readme, "rust,ignore");
    assert_eq!(
        blocks.len(),
        1,
        "README has one `rust,ignore` block, the mTLS server"
    );
    let example = marked_region(&read("examples/examples/mtls-server.rs"));
    assert_eq!(
        blocks[0].trim_end(),
        example,
        "README's mTLS server differs from examples/examples/mtls-server.rs"
    );
    assert!(
        blocks[0].lines().count() <= 22,
        "the README promises about 20 lines"
    );
}

#[test]
fn readme_id_sample_is_the_test_below() {
    let readme = read("README.md");
    let blocks = fenced_blocks(&readme, "rust");
    assert_eq!(blocks.len(), 1, "README has one `rust` block, the ID layer");
    // Lines starting with `# ` are hidden in rendered doc tests: the `Ok` that ends the block.
    let shown: Vec<&str> = blocks[0]
        .lines()
        .filter(|line| !line.starts_with("# "))
        .collect();
    let test = marked_region(&read("examples/tests/readme.rs"));
    assert_eq!(shown.join("\n").trim_end(), test);
}

/// The README's ID-layer sample (not reformatted: README shows it as written).
#[test]
#[rustfmt::skip]
fn id_sample_runs() -> Result<(), spiffe_id::Error> {
    // README: begin
    use spiffe_id::{IdMatcher, SpiffeId};

    let peer: SpiffeId = "spiffe://prod.example/ns/payments/sa/api".parse()?;
    let allowed = IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?
        .and(IdMatcher::path_prefix("spiffe://prod.example/ns/payments/legacy".parse()?).negate());
    assert!(allowed.matches(&peer));

    // Nothing is normalised: these are errors, not other spellings of a valid ID.
    assert!("spiffe://Prod.example/a".parse::<SpiffeId>().is_err());
    assert!("spiffe://prod.example/a/%2e%2e/b".parse::<SpiffeId>().is_err());
    // README: end
    Ok(())
}
