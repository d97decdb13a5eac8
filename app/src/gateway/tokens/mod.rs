//! Verification tokens: the JWT codec and keys (`jwt`) and the use case that issues and
//! confirms them (`issue`).

pub mod issue;
pub mod jwt;

pub use jwt::{Claims, TokenError, TokenKeys};
