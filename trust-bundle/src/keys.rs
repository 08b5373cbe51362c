//! Reading a bundle document down to its `keys` array, under the document-level limits: shared
//! by [`SpiffeBundle`](crate::SpiffeBundle), [`JwtBundle`](crate::JwtBundle) and
//! [`BundleSet`](crate::BundleSet), below all three.

use crate::json::{self, Object, ParseError, Value};
use crate::{Error, MAX_BUNDLE_BYTES, MAX_JSON_VALUES_PER_BUNDLE, MAX_KEYS_PER_BUNDLE};

/// Parses a single bundle document under the single-document limits.
pub(crate) fn parse_document(json: &[u8]) -> Result<Value, Error> {
    if json.len() > MAX_BUNDLE_BYTES {
        return Err(Error::TooLarge {
            len: json.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    json::parse(json, MAX_JSON_VALUES_PER_BUNDLE)
        .map_err(|error| json_error(error, MAX_JSON_VALUES_PER_BUNDLE))
}

/// The error for a JSON failure.
pub(crate) fn json_error(error: ParseError, max_values: usize) -> Error {
    match error {
        ParseError::Syntax(error) => Error::Json(error),
        ParseError::TooManyValues => Error::TooManyJsonValues { max: max_values },
        ParseError::DuplicateKey(path) => Error::DuplicateJsonKey {
            pointer: json::pointer(&path),
        },
    }
}

/// A bundle document and its `keys` array, checked against the document-level rules.
pub(crate) struct KeysMember<'a> {
    pub(crate) document: &'a Object,
    pub(crate) entries: &'a [Value],
}

impl<'a> KeysMember<'a> {
    /// Checks that the document is an object whose `keys` is an array within the limit
    /// (SPIFFE bundle 4.1.3; digest B-1).
    pub(crate) fn read(document: &'a Value) -> Result<Self, Error> {
        let document = document.as_object().ok_or(Error::NotAnObject {
            what: "bundle document",
        })?;
        if document.is_null("keys") {
            return Err(Error::NullKeys);
        }
        match document.get("keys") {
            None => Err(Error::MissingKeys),
            Some(Value::Array(entries)) if entries.len() > MAX_KEYS_PER_BUNDLE => {
                Err(Error::TooManyKeys {
                    max: MAX_KEYS_PER_BUNDLE,
                })
            }
            Some(Value::Array(entries)) => Ok(Self { document, entries }),
            Some(_) => Err(Error::KeysNotArray),
        }
    }
}
