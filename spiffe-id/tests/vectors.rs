//! Table-driven tests: every SPIFFE ID vector of `shared/spec/SPIFFE-DIGEST.md` 1.8
//! (`data/id_vectors.tsv`) and the trust domain name vectors (`data/td_vectors.tsv`).
//!
//! The file format (escapes, `{TEXT*N}` repeats, expected-value syntax) is documented in the
//! header comment of each data file.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] fns, which clippy.toml does not exempt; a panic is a failed test"
)]

use std::collections::BTreeMap;

use spiffe_id::{Error, SpiffeId, TrustDomain};

const ID_VECTORS: &str = include_str!("data/id_vectors.tsv");
const TD_VECTORS: &str = include_str!("data/td_vectors.tsv");

/// The number of vectors in `shared/spec/SPIFFE-DIGEST.md` 1.8.
const DIGEST_ID_VECTORS: usize = 60;
/// Vectors 1..=15 of digest 1.8 are valid, 16..=60 invalid.
const DIGEST_VALID_ID_VECTORS: usize = 15;
/// The trust-domain-string table of digest 1.8 has eight rows.
const DIGEST_TD_VECTORS: usize = 8;

/// What a vector expects.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// Parses; the key/value pairs (`td`, `path`, `name`) are decoded bytes.
    Ok(BTreeMap<String, Vec<u8>>),
    /// Fails with exactly this error.
    Err(Error),
}

/// Decodes the input notation of the data files (see their header comments).
fn decode(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let escaped = *bytes
                    .get(i + 1)
                    .unwrap_or_else(|| panic!("dangling backslash in {field:?}"));
                i += 2;
                match escaped {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'0' => out.push(0),
                    b'\\' | b'{' | b'}' => out.push(escaped),
                    b'x' => {
                        let hex = field
                            .get(i..i + 2)
                            .unwrap_or_else(|| panic!("short \\x escape in {field:?}"));
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 2;
                    }
                    other => panic!("unknown escape \\{} in {field:?}", char::from(other)),
                }
            }
            b'{' => {
                let close = field[i..]
                    .find('}')
                    .unwrap_or_else(|| panic!("unclosed {{ in {field:?}"))
                    + i;
                let (text, count) = field[i + 1..close]
                    .rsplit_once('*')
                    .unwrap_or_else(|| panic!("repeat without * in {field:?}"));
                assert!(
                    !text.is_empty() && !text.contains(['{', '\\']),
                    "bad repeat text in {field:?}"
                );
                let count: usize = count.parse().unwrap();
                out.extend(text.as_bytes().repeat(count));
                i = close + 1;
            }
            b'}' => panic!("stray }} in {field:?}"),
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// Takes a decimal field out of `fields`.
fn take_usize(fields: &mut BTreeMap<&str, &str>, key: &str, line: &str) -> usize {
    let value = fields
        .remove(key)
        .unwrap_or_else(|| panic!("missing {key}= in {line:?}"));
    value.parse().unwrap()
}

/// Takes a `0xHH` field out of `fields`.
fn take_byte(fields: &mut BTreeMap<&str, &str>, key: &str, line: &str) -> u8 {
    let value = fields
        .remove(key)
        .unwrap_or_else(|| panic!("missing {key}= in {line:?}"));
    let hex = value
        .strip_prefix("0x")
        .unwrap_or_else(|| panic!("{key} must be 0xHH in {line:?}"));
    assert_eq!(hex.len(), 2, "{key} must be 0xHH in {line:?}");
    u8::from_str_radix(hex, 16).unwrap()
}

/// Parses the `expected` column.
fn parse_expected(text: &str) -> Expected {
    let mut words = text.split(' ');
    let name = words.next().unwrap();
    let mut fields: BTreeMap<&str, &str> = words
        .map(|w| {
            w.split_once('=')
                .unwrap_or_else(|| panic!("expected key=value, got {w:?} in {text:?}"))
        })
        .collect();
    if name == "ok" {
        return Expected::Ok(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), decode(v)))
                .collect(),
        );
    }
    let error = match name {
        "Empty" => Error::Empty,
        "BadScheme" => Error::BadScheme,
        "MissingTrustDomain" => Error::MissingTrustDomain,
        "TrailingSlash" => Error::TrailingSlash,
        "PathMissingLeadingSlash" => Error::PathMissingLeadingSlash,
        "BadTrustDomainChar" => Error::BadTrustDomainChar {
            at: take_usize(&mut fields, "at", text),
            byte: take_byte(&mut fields, "byte", text),
        },
        "BadPathChar" => Error::BadPathChar {
            at: take_usize(&mut fields, "at", text),
            byte: take_byte(&mut fields, "byte", text),
        },
        "TrustDomainTooLong" => Error::TrustDomainTooLong {
            len: take_usize(&mut fields, "len", text),
        },
        "IdTooLong" => Error::IdTooLong {
            len: take_usize(&mut fields, "len", text),
        },
        "EmptySegment" => Error::EmptySegment {
            at: take_usize(&mut fields, "at", text),
        },
        "DotSegment" => Error::DotSegment {
            at: take_usize(&mut fields, "at", text),
        },
        "BadWildcard" => Error::BadWildcard {
            at: take_usize(&mut fields, "at", text),
        },
        other => panic!("unknown error variant {other:?}"),
    };
    assert!(fields.is_empty(), "unused fields {fields:?} in {text:?}");
    Expected::Err(error)
}

/// The non-comment, non-blank lines of a data file, split on TAB.
fn rows(file: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    file.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
}

/// One row of `id_vectors.tsv`.
#[derive(Debug)]
struct IdVector {
    number: usize,
    input: Vec<u8>,
    expected: Expected,
}

fn id_vectors() -> Vec<IdVector> {
    rows(ID_VECTORS)
        .map(|cols| {
            assert_eq!(cols.len(), 4, "want 4 columns: {cols:?}");
            IdVector {
                number: cols[0].parse().unwrap(),
                input: decode(cols[1]),
                expected: parse_expected(cols[2]),
            }
        })
        .collect()
}

/// One row of `td_vectors.tsv`.
#[derive(Debug)]
struct TdVector {
    source: &'static str,
    function: &'static str,
    input: String,
    expected: Expected,
}

fn td_vectors() -> Vec<TdVector> {
    rows(TD_VECTORS)
        .map(|cols| {
            assert_eq!(cols.len(), 4, "want 4 columns: {cols:?}");
            TdVector {
                source: cols[0],
                function: cols[1],
                input: String::from_utf8(decode(cols[2])).unwrap(),
                expected: parse_expected(cols[3]),
            }
        })
        .collect()
}

/// Parses through every entry point that takes this input and checks they agree.
fn parse_all_ways(input: &[u8]) -> Result<SpiffeId, Error> {
    let from_bytes = SpiffeId::parse_bytes(input);
    assert_eq!(SpiffeId::try_from(input), from_bytes, "TryFrom<&[u8]>");
    if let Ok(text) = std::str::from_utf8(input) {
        assert_eq!(SpiffeId::parse(text), from_bytes, "parse vs parse_bytes");
        assert_eq!(text.parse::<SpiffeId>(), from_bytes, "FromStr");
        assert_eq!(SpiffeId::try_from(text), from_bytes, "TryFrom<&str>");
    }
    from_bytes
}

#[test]
fn decoder_understands_the_documented_notation() {
    assert_eq!(decode(""), b"");
    assert_eq!(decode("plain"), b"plain");
    assert_eq!(decode(r"a\nb\r\t\0\\\{\}"), b"a\nb\r\t\0\\{}");
    assert_eq!(decode(r"\x00\xff\x7E"), [0x00, 0xff, 0x7e]);
    assert_eq!(decode("x{ab*3}y"), b"xabababy");
    assert_eq!(decode("{a*0}"), b"");
    assert_eq!(decode("é"), [0xc3, 0xa9]);
}

#[test]
fn expected_column_parses_into_exact_values() {
    assert_eq!(
        parse_expected("BadTrustDomainChar at=9 byte=0x45"),
        Expected::Err(Error::BadTrustDomainChar { at: 9, byte: 0x45 })
    );
    assert_eq!(
        parse_expected("ok td={a*2} path="),
        Expected::Ok(BTreeMap::from([
            ("td".to_owned(), b"aa".to_vec()),
            ("path".to_owned(), Vec::new()),
        ]))
    );
}

/// Deleting, duplicating or renumbering a line of the data file fails here.
#[test]
fn id_vector_file_holds_all_60_digest_vectors_in_order() {
    let vectors = id_vectors();
    assert_eq!(vectors.len(), DIGEST_ID_VECTORS);
    let numbers: Vec<usize> = vectors.iter().map(|v| v.number).collect();
    assert_eq!(numbers, (1..=DIGEST_ID_VECTORS).collect::<Vec<_>>());
    for v in &vectors {
        let valid = matches!(v.expected, Expected::Ok(_));
        assert_eq!(
            valid,
            v.number <= DIGEST_VALID_ID_VECTORS,
            "vector {} has the wrong verdict class",
            v.number
        );
    }
}

/// The generated long inputs have the lengths the digest gives.
#[test]
fn long_id_vectors_have_the_digest_lengths() {
    let vectors = id_vectors();
    assert_eq!(
        vectors[13].input.len(),
        "spiffe://".len() + 255 + "/p".len()
    );
    assert_eq!(vectors[14].input.len(), 2048);
    assert_eq!(vectors[15].input.len(), "spiffe://".len() + 256);
    assert_eq!(vectors[16].input.len(), 0);
}

/// Valid vectors parse through every entry point, display unchanged and split into the
/// expected trust domain and path (shared/spec/SPIFFE-DIGEST.md 1.8).
#[test]
fn valid_id_vectors_parse_and_round_trip() {
    let mut checked = 0;
    for v in id_vectors() {
        let Expected::Ok(parts) = &v.expected else {
            continue;
        };
        let id = parse_all_ways(&v.input)
            .unwrap_or_else(|e| panic!("vector {} should parse: {e}", v.number));
        let input = std::str::from_utf8(&v.input).unwrap();
        let td = std::str::from_utf8(&parts["td"]).unwrap();
        let path = std::str::from_utf8(&parts["path"]).unwrap();
        assert_eq!(parts.len(), 2, "vector {}: want td= and path=", v.number);

        assert_eq!(id.to_string(), input, "vector {}", v.number);
        assert_eq!(id.as_str(), input);
        assert_eq!(id, input);
        assert_eq!(id.trust_domain_name(), td, "vector {}", v.number);
        assert_eq!(id.trust_domain().as_str(), td);
        assert_eq!(id.path(), path, "vector {}", v.number);
        assert_eq!(id.is_root(), path.is_empty());
        assert_eq!(format!("spiffe://{td}{path}"), input);
        let joined: String = id.segments().map(|s| format!("/{s}")).collect();
        assert_eq!(joined, path);
        assert!(id.is_member_of(&TrustDomain::parse(td).unwrap()));
        assert_eq!(
            TrustDomain::from_id_or_name(input).unwrap().as_str(),
            td,
            "vector {}",
            v.number
        );
        checked += 1;
    }
    assert_eq!(checked, DIGEST_VALID_ID_VECTORS);
}

/// Invalid vectors fail with exactly the listed error through every entry point
/// (shared/spec/SPIFFE-DIGEST.md 1.7, 1.8).
#[test]
fn invalid_id_vectors_fail_with_the_exact_error() {
    let mut checked = 0;
    for v in id_vectors() {
        let Expected::Err(expected) = &v.expected else {
            continue;
        };
        assert_eq!(
            parse_all_ways(&v.input).as_ref(),
            Err(expected),
            "vector {}: {:?}",
            v.number,
            String::from_utf8_lossy(&v.input)
        );
        checked += 1;
    }
    assert_eq!(checked, DIGEST_ID_VECTORS - DIGEST_VALID_ID_VECTORS);
}

/// The eight trust-domain-string vectors of shared/spec/SPIFFE-DIGEST.md 1.8 are all present.
#[test]
fn td_vector_file_holds_all_digest_trust_domain_vectors() {
    let digest: Vec<TdVector> = td_vectors()
        .into_iter()
        .filter(|v| v.source == "1.8")
        .collect();
    assert_eq!(digest.len(), DIGEST_TD_VECTORS);
    assert!(digest.iter().all(|v| v.function == "from_id_or_name"));
    let inputs: Vec<&str> = digest.iter().map(|v| v.input.as_str()).collect();
    assert_eq!(
        inputs,
        [
            "example.org",
            "spiffe://example.org",
            "spiffe://example.org/path",
            "",
            "Example.org",
            "example.org/path",
            "spiffe:/example.org",
            "spiffe://example.org/",
        ]
    );
}

/// `TrustDomain::from_id_or_name` and `TrustDomain::parse` give exactly the listed result
/// (shared/spec/SPIFFE-DIGEST.md 1.2, 1.6, 1.8).
#[test]
fn td_vectors_give_the_exact_result() {
    let vectors = td_vectors();
    assert!(vectors.len() > DIGEST_TD_VECTORS);
    for v in vectors {
        let got = match v.function {
            "from_id_or_name" => TrustDomain::from_id_or_name(&v.input),
            "parse" => {
                let parsed = TrustDomain::parse(&v.input);
                assert_eq!(v.input.parse::<TrustDomain>(), parsed, "FromStr");
                assert_eq!(TrustDomain::try_from(v.input.as_str()), parsed, "TryFrom");
                parsed
            }
            other => panic!("unknown function {other:?}"),
        };
        match &v.expected {
            Expected::Ok(parts) => {
                assert_eq!(parts.len(), 1, "want only name= in {v:?}");
                let name = std::str::from_utf8(&parts["name"]).unwrap();
                let td = got.unwrap_or_else(|e| panic!("{v:?} should succeed: {e}"));
                assert_eq!(td.as_str(), name, "{v:?}");
                assert_eq!(td.to_string(), name);
                assert_eq!(td.id().as_str(), format!("spiffe://{name}"));
                assert!(td.id().is_root());
                assert_eq!(td.id().trust_domain(), td);
                if v.function == "parse" {
                    assert_eq!(name, v.input, "parse keeps the name as written");
                }
            }
            Expected::Err(expected) => {
                assert_eq!(got.as_ref(), Err(expected), "{v:?}");
            }
        }
    }
}
