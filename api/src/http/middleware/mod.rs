//! Middleware: what every request goes through before and after its handler.

pub mod csrf;
pub mod request_span;
