//! JWT-SVIDs.

mod ecdsa;
mod token;
mod validate;

pub use crate::jwt_algorithm::{JwtAlgorithm, JwtKeyType};
pub use token::{MAX_AUDIENCES, MAX_TOKEN_LEN, UnverifiedJwtSvid};
pub use validate::{Audience, JwtValidator, MAX_KEYS_WITHOUT_KID, MAX_LEEWAY, VerifiedJwtSvid};
