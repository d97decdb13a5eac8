//! Verifications, one use case a file: start one (`create`), check a code (`check`),
//! send it again (`resend`), move it to another channel (`switch`), cancel it
//! (`cancel`), and read it (`read`).

pub mod cancel;
pub mod check;
pub mod create;
pub mod read;
pub mod resend;
pub mod switch;

pub use check::CheckMode;
pub use create::{CreateRequest, Created, CustomCode, Target};
