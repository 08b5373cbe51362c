//! Strict JSON for untrusted documents: the duplicate-member check shared with `svid`
//! ([`duplicate_member`]); inside this crate, a strict JSON value and a small writer for the
//! documents this crate emits.
//!
//! `serde_json` into a map silently keeps the last of two equal keys, and parsers that disagree
//! on which duplicate wins are a security risk (SPIFFE bundle 6.3; digest 4.5). The crate's
//! parser refuses a repeated member name in *any* object, at any depth, and reports where it was. It
//! also counts values against a budget, so a small document of `[[],[],...]` cannot turn into
//! an outsized tree; `serde_json` itself caps nesting at 128 levels.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects have unique member names, in document order.
#[derive(Debug)]
pub(crate) enum Value {
    Null,
    /// `true` or `false`; no member this crate reads is a boolean.
    Bool,
    Number(Number),
    String(String),
    Array(Vec<Self>),
    Object(Object),
}

/// A JSON number as `serde_json` reads it without `arbitrary_precision`. Only non-negative
/// integers are kept: every number member this crate reads is one.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Number {
    /// An integer in `0..=u64::MAX`.
    PosInt(u64),
    /// A negative integer that fits `i64`.
    NegInt,
    /// Anything with a fraction or an exponent, or an integer outside `i64`/`u64`.
    Float,
}

/// A JSON object: members in document order, names unique.
#[derive(Debug)]
pub(crate) struct Object(Vec<(String, Value)>);

impl Object {
    /// The member named `name`; `null` counts as absent, as it does for every optional member
    /// this crate reads.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
            .filter(|value| !matches!(value, Value::Null))
    }

    /// Whether a member named `name` is present with the value `null`.
    pub(crate) fn is_null(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(key, value)| key == name && matches!(value, Value::Null))
    }

    /// Whether a member named `name` is present with a value other than `null`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The members, in document order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value))
    }
}

impl Value {
    pub(crate) fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(object) => Some(object),
            _ => None,
        }
    }
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Why [`parse`] failed.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not JSON, trailing data, or nested deeper than `serde_json`'s limit of 128.
    Syntax(serde_json::Error),
    /// An object repeats a member name; the path ends with the repeated name.
    DuplicateKey(Vec<Segment>),
    /// More values than the budget allows.
    TooManyValues,
}

/// Parses one JSON document holding at most `max_values` values (objects, arrays and scalars
/// each count one).
pub(crate) fn parse(input: &[u8], max_values: usize) -> Result<Value, ParseError> {
    let state = State {
        remaining: Cell::new(max_values),
        failure: RefCell::new(None),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let result = ValueSeed { state: &state }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    result.map_err(|error| match state.failure.into_inner() {
        Some(Failure::DuplicateKey(mut path)) => {
            path.reverse();
            ParseError::DuplicateKey(path)
        }
        Some(Failure::Budget) => ParseError::TooManyValues,
        None => ParseError::Syntax(error),
    })
}

/// Renders a path as an RFC 6901 JSON pointer.
pub(crate) fn pointer(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        out.push('/');
        match segment {
            Segment::Key(key) => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Index(index) => out.push_str(&index.to_string()),
        }
    }
    out
}

/// Why the visitor stopped; `serde_json::Error` can only carry text, so typed reasons travel
/// here.
enum Failure {
    /// Collected innermost first while the error unwinds through the enclosing containers.
    DuplicateKey(Vec<Segment>),
    Budget,
}

struct State {
    remaining: Cell<usize>,
    failure: RefCell<Option<Failure>>,
}

impl State {
    /// Spends one value of the budget.
    fn take<E: de::Error>(&self) -> Result<(), E> {
        match self.remaining.get().checked_sub(1) {
            Some(left) => {
                self.remaining.set(left);
                Ok(())
            }
            None => {
                self.failure.replace(Some(Failure::Budget));
                Err(E::custom("too many json values"))
            }
        }
    }

    /// Records the container step an error unwinds through, when it is a duplicate key.
    fn unwind(&self, segment: Segment) {
        if let Some(Failure::DuplicateKey(path)) = self.failure.borrow_mut().as_mut() {
            path.push(segment);
        }
    }
}

#[derive(Clone, Copy)]
struct ValueSeed<'s> {
    state: &'s State,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::Bool)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::Number(Number::PosInt(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::Number(match u64::try_from(v) {
            Ok(positive) => Number::PosInt(positive),
            Err(_) => Number::NegInt,
        }))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::Number(Number::Float))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.state.take()?;
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.state.take()?;
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(error) => {
                    self.state.unwind(Segment::Index(items.len()));
                    return Err(error);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.state.take()?;
        let mut members: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value_seed(self) {
                Ok(value) => members.push((key, value)),
                Err(error) => {
                    self.state.unwind(Segment::Key(key));
                    return Err(error);
                }
            }
        }
        if let Some(duplicate) = find_duplicate(&members) {
            self.state
                .failure
                .replace(Some(Failure::DuplicateKey(vec![Segment::Key(duplicate)])));
            return Err(de::Error::custom("duplicate object member"));
        }
        Ok(Value::Object(Object(members)))
    }
}

/// A member name that occurs twice, if any.
fn find_duplicate(members: &[(String, Value)]) -> Option<String> {
    let mut names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
    duplicate_member(&mut names).map(|name| (*name).to_owned())
}

/// The first member name, in sorted order, that occurs more than once in `names`, if any.
///
/// JSON parsers disagree on which of two equal member names wins, so the strict readers of
/// untrusted JSON in the spiffekit crates refuse them all through this one check: this crate's
/// bundle parser in every object at any depth (SPIFFE bundle 6.3), `svid` in JWT claims
/// (RFC 7519 4). `names` is sorted in place, which keeps the check `O(n log n)` for hostile
/// objects with thousands of members.
///
/// ```
/// let mut names = ["kid", "alg", "kid"];
/// assert_eq!(trust_bundle::json::duplicate_member(&mut names), Some(&"kid"));
/// assert_eq!(trust_bundle::json::duplicate_member(&mut ["a", "b"]), None);
/// ```
pub fn duplicate_member<S: AsRef<str>>(names: &mut [S]) -> Option<&S> {
    names.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    let names: &[S] = names;
    names.windows(2).find_map(|pair| match pair {
        [a, b] if a.as_ref() == b.as_ref() => Some(a),
        _ => None,
    })
}

/// Writes one JSON object member by member, handling the separators.
#[derive(Debug)]
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    /// Writes the member name and returns the buffer for its value.
    pub(crate) fn member(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_string(self.out, name);
        self.out.push(':');
        self.out
    }

    pub(crate) fn string(&mut self, name: &str, value: &str) {
        write_string(self.member(name), value);
    }

    pub(crate) fn number(&mut self, name: &str, value: u64) {
        self.member(name).push_str(&value.to_string());
    }

    pub(crate) fn finish(self) {
        self.out.push('}');
    }
}

/// Writes one JSON array item by item, handling the separators.
#[derive(Debug)]
pub(crate) struct ArrayWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ArrayWriter<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('[');
        Self { out, first: true }
    }

    /// Returns the buffer for the next item.
    pub(crate) fn item(&mut self) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out
    }

    pub(crate) fn finish(self) {
        self.out.push(']');
    }
}

/// Writes `value` as a JSON string (RFC 8259 7).
pub(crate) fn write_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate_path(input: &str) -> Vec<Segment> {
        match parse(input.as_bytes(), 1000) {
            Err(ParseError::DuplicateKey(path)) => path,
            other => panic!("expected a duplicate key, got {other:?}"),
        }
    }

    #[test]
    fn finds_duplicates_at_any_depth() {
        assert_eq!(
            duplicate_path(r#"{"a":1,"a":2}"#),
            [Segment::Key("a".into())]
        );
        assert_eq!(
            duplicate_path(r#"{"x":[0,{"b":{"c":1,"d":2,"c":3}}]}"#),
            [
                Segment::Key("x".into()),
                Segment::Index(1),
                Segment::Key("b".into()),
                Segment::Key("c".into())
            ]
        );
        // Escapes are decoded before comparing: "\u0061" is "a".
        assert_eq!(
            duplicate_path(r#"{"a":1,"\u0061":2}"#),
            [Segment::Key("a".into())]
        );
    }

    #[test]
    fn pointer_escapes_per_rfc_6901() {
        let path = [Segment::Key("a/b~c".into()), Segment::Index(3)];
        assert_eq!(pointer(&path), "/a~1b~0c/3");
    }

    #[test]
    fn budget_counts_every_value() {
        assert!(parse(b"[1,2,3]", 4).is_ok());
        assert!(matches!(
            parse(b"[1,2,3]", 3),
            Err(ParseError::TooManyValues)
        ));
        assert!(matches!(
            parse(br#"{"a":{"b":null}}"#, 2),
            Err(ParseError::TooManyValues)
        ));
    }

    #[test]
    fn refuses_trailing_data_and_deep_nesting() {
        assert!(matches!(parse(b"{} {}", 10), Err(ParseError::Syntax(_))));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            parse(deep.as_bytes(), 1000),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn numbers_keep_their_kind() {
        let Ok(Value::Array(items)) = parse(
            b"[9223372036854775813, -1, 1.0, 1e2, 18446744073709551616]",
            10,
        ) else {
            panic!("array expected");
        };
        assert!(matches!(
            items.as_slice(),
            [
                Value::Number(Number::PosInt(9_223_372_036_854_775_813)),
                Value::Number(Number::NegInt),
                Value::Number(Number::Float),
                Value::Number(Number::Float),
                Value::Number(Number::Float),
            ]
        ));
    }

    #[test]
    fn writes_escaped_strings() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, r#""a\"b\\c\n\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\n\u{1}é");
    }
}
