//! JWT claims between JSON and `google.protobuf.Struct`, the type of
//! `ValidateJWTSVIDResponse.claims`: the server converts the claims it validated, the client
//! converts them back.

use std::collections::BTreeMap;

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};

/// The deepest nesting [`claims_from_struct`] converts; deeper values become `null`. Claims are
/// flat in practice, and the bound keeps a hostile server from making the client recurse
/// without end.
const MAX_DEPTH: usize = 32;

/// The claims as a `google.protobuf.Struct`: every number becomes a double, as the protobuf
/// JSON mapping says (digest 5.4).
///
/// ```
/// use prost_types::value::Kind;
///
/// let claims: serde_json::Map<String, serde_json::Value> =
///     serde_json::from_str(r#"{"sub": "spiffe://example.org/web", "exp": 1700000000}"#)?;
/// let message = workload_api::claims_to_struct(&claims);
/// assert_eq!(message.fields["exp"].kind, Some(Kind::NumberValue(1_700_000_000.0)));
/// assert_eq!(workload_api::claims_from_struct(&message)["exp"], 1_700_000_000.0);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn claims_to_struct(claims: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: claims
            .iter()
            .map(|(name, value)| (name.clone(), json_value(value)))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn json_value(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(claims_to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// The claims of a `google.protobuf.Struct` as JSON, as sent: numbers are floats (a value that
/// JSON cannot hold, NaN or an infinity, becomes `null`), and nesting deeper than 32 levels
/// becomes `null`.
pub fn claims_from_struct(claims: &prost_types::Struct) -> Map<String, Value> {
    claims
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), to_json(value, 0)))
        .collect()
}

fn to_json(value: &prost_types::Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v, depth + 1)))
                .collect(),
        ),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(|v| to_json(v, depth + 1)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_struct_values() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"sub":"spiffe://a/b","aud":["x"],"exp":1700000000,"n":null,"o":{"t":true}}"#,
        )
        .unwrap();
        let s = claims_to_struct(&claims);
        assert_eq!(
            s.fields["exp"].kind,
            Some(Kind::NumberValue(1_700_000_000.0))
        );
        assert!(matches!(s.fields["aud"].kind, Some(Kind::ListValue(_))));
        assert!(matches!(s.fields["o"].kind, Some(Kind::StructValue(_))));
    }

    #[test]
    fn struct_round_trips_to_the_same_claims_with_float_numbers() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"sub":"spiffe://a/b","aud":["x"],"exp":1700000000.0,"n":null,"o":{"t":true}}"#,
        )
        .unwrap();
        assert_eq!(claims_from_struct(&claims_to_struct(&claims)), claims);
    }

    #[test]
    fn nesting_past_the_bound_and_nan_become_null() {
        let mut value = prost_types::Value {
            kind: Some(Kind::BoolValue(true)),
        };
        for _ in 0..=MAX_DEPTH + 1 {
            value = prost_types::Value {
                kind: Some(Kind::ListValue(prost_types::ListValue {
                    values: vec![value],
                })),
            };
        }
        let message = prost_types::Struct {
            fields: BTreeMap::from([
                ("deep".to_owned(), value),
                (
                    "nan".to_owned(),
                    prost_types::Value {
                        kind: Some(Kind::NumberValue(f64::NAN)),
                    },
                ),
            ]),
        };
        let claims = claims_from_struct(&message);
        assert_eq!(claims["nan"], Value::Null);
        let mut deep = &claims["deep"];
        let mut levels = 0;
        while let Value::Array(items) = deep {
            deep = &items[0];
            levels += 1;
        }
        assert_eq!(levels, MAX_DEPTH + 1);
        assert_eq!(*deep, Value::Null);
    }
}
