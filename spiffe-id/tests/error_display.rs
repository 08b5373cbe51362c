//! `Error` messages: lower-case, no trailing punctuation, the rule's spec section cited, and the
//! go-spiffe category wording of `shared/spec/SPIFFE-DIGEST.md` 1.7 kept where one exists.

use spiffe_id::Error;

/// One value of each variant, with the SPIFFE-ID section its message must cite (`None` for
/// the pattern syntax, which is this crate's and not the specification's).
fn one_of_each() -> Vec<(Error, Option<&'static str>)> {
    vec![
        (Error::Empty, Some("2")),
        (Error::BadScheme, Some("2")),
        (Error::MissingTrustDomain, Some("2.1")),
        (Error::BadTrustDomainChar { at: 9, byte: b'E' }, Some("2.1")),
        (Error::TrustDomainTooLong { len: 256 }, Some("2.3")),
        (Error::EmptySegment { at: 20 }, Some("2.2")),
        (Error::DotSegment { at: 20 }, Some("2.2")),
        (Error::TrailingSlash, Some("2.2")),
        (Error::BadPathChar { at: 22, byte: 0x0a }, Some("2.2")),
        (Error::PathMissingLeadingSlash, Some("2.2")),
        (Error::IdTooLong { len: 2049 }, Some("2.3")),
        (Error::BadWildcard { at: 20 }, None),
    ]
}

#[test]
fn messages_are_lower_case_without_trailing_punctuation() {
    for (error, _) in one_of_each() {
        let message = error.to_string();
        let first = message.chars().next().unwrap();
        assert!(first.is_ascii_lowercase(), "starts upper-case: {message:?}");
        assert_eq!(
            message.trim(),
            message,
            "surrounding whitespace: {message:?}"
        );
        assert!(
            !message.ends_with(['.', '!', ':', ';', ',']),
            "trailing punctuation: {message:?}"
        );
        assert!(!message.contains('\n'), "multi-line: {message:?}");
    }
}

#[test]
fn messages_cite_the_spec_section_of_their_rule() {
    for (error, section) in one_of_each() {
        let message = error.to_string();
        match section {
            Some(section) => assert!(
                message.ends_with(&format!("(SPIFFE-ID {section})")),
                "{error:?} should cite SPIFFE-ID {section}: {message:?}"
            ),
            None => assert!(!message.contains("SPIFFE-ID"), "{message:?}"),
        }
    }
}

/// The category wording of shared/spec/SPIFFE-DIGEST.md 1.7 survives in the messages, so logs
/// read like go-spiffe's.
#[test]
fn messages_keep_the_go_spiffe_category_wording() {
    for (error, wording) in [
        (Error::BadScheme, "scheme is missing or invalid"),
        (Error::MissingTrustDomain, "trust domain is missing"),
        (
            Error::BadTrustDomainChar { at: 0, byte: 0 },
            "trust domain characters are limited to lowercase letters, numbers, dots, dashes, \
             and underscores",
        ),
        (
            Error::BadPathChar { at: 0, byte: 0 },
            "path segment characters are limited to letters, numbers, dots, dashes, and \
             underscores",
        ),
        (
            Error::EmptySegment { at: 0 },
            "path cannot contain empty segments",
        ),
        (
            Error::DotSegment { at: 0 },
            "path cannot contain dot segments",
        ),
        (Error::TrailingSlash, "path cannot have a trailing slash"),
    ] {
        let message = error.to_string();
        assert!(message.starts_with(wording), "{message:?}");
    }
}

#[test]
fn messages_show_offsets_bytes_and_lengths() {
    assert_eq!(
        Error::BadTrustDomainChar { at: 9, byte: b'E' }.to_string(),
        "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and \
         underscores: found byte 0x45 at offset 9 (SPIFFE-ID 2.1)"
    );
    assert_eq!(
        Error::BadPathChar { at: 22, byte: 0x0a }.to_string(),
        "path segment characters are limited to letters, numbers, dots, dashes, and \
         underscores: found byte 0x0a at offset 22 (SPIFFE-ID 2.2)"
    );
    assert_eq!(
        Error::TrustDomainTooLong { len: 256 }.to_string(),
        "trust domain is 256 bytes long, more than the 255 allowed (SPIFFE-ID 2.3)"
    );
    assert_eq!(
        Error::IdTooLong { len: 2049 }.to_string(),
        "refusing to build a SPIFFE ID of 2049 bytes, more than the 2048 an implementation \
         should generate (SPIFFE-ID 2.3)"
    );
    assert_eq!(
        Error::EmptySegment { at: 20 }.to_string(),
        "path cannot contain empty segments: at offset 20 (SPIFFE-ID 2.2)"
    );
    assert_eq!(
        Error::DotSegment { at: 7 }.to_string(),
        "path cannot contain dot segments: at offset 7 (SPIFFE-ID 2.2)"
    );
    assert!(
        Error::BadWildcard { at: 31 }
            .to_string()
            .contains("offset 31")
    );
}

#[test]
fn errors_are_std_errors_without_a_source() {
    for (error, _) in one_of_each() {
        let dynamic: &dyn std::error::Error = &error;
        assert!(dynamic.source().is_none());
        assert_eq!(dynamic.to_string(), error.to_string());
    }
}
