//! spa-auth: server-side sessions behind an HttpOnly cookie, for single-page apps.

pub mod cli;
pub mod config;
pub mod django;
pub mod errors;
pub mod http;
pub mod passwords;
pub mod security;
pub mod sessions;
pub mod startup;
pub mod telemetry;
pub mod users;
