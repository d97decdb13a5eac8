//! The SMS fraud guard's values (lower layer): the country of a phone number and the
//! countries an app accepts (`geo`), prices and budgets (`money`), and the pumping
//! detector's tallies and rules (`tally`). The use case is `gateway/guard.rs`.

pub mod geo;
pub mod money;
pub mod tally;
