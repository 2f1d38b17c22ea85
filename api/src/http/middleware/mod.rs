//! Middleware: what every request goes through before and after its handler.

pub mod csrf;
pub mod fail_fast;
pub mod guard;
pub mod hygiene;
pub mod json_errors;
pub mod limits;
pub mod request_span;
