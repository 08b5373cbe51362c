//! JWT-SVIDs.

mod algorithm;
mod ecdsa;
mod token;
mod validate;

pub use algorithm::{JwtAlgorithm, JwtKeyType};
pub use token::{JwtSvid, MAX_AUDIENCES, MAX_TOKEN_LEN};
pub use validate::{Audience, JwtValidator, MAX_KEYS_WITHOUT_KID, MAX_LEEWAY, VerifiedJwtSvid};
