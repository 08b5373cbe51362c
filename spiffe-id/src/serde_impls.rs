//! `serde` support (feature `serde`): IDs, trust domains and patterns travel as their string
//! form and are validated when deserialised.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{Error, IdPattern, SpiffeId, TrustDomain};

/// Parses the string form of a value while deserialising.
struct ParseVisitor<T>(PhantomData<T>, &'static str);

impl<T> ParseVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        Self(PhantomData, expecting)
    }
}

macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ParseVisitor::<$ty>::new($expecting))
            }
        }

        impl Visitor<'_> for ParseVisitor<$ty> {
            type Value = $ty;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.1)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                <$ty>::parse(v).map_err(|e: Error| E::custom(e))
            }
        }
    };
}

string_serde!(SpiffeId, "a SPIFFE ID string");
string_serde!(TrustDomain, "a trust domain name");
string_serde!(IdPattern, "a SPIFFE ID pattern string");
