//! spa-auth: server-side sessions behind an HttpOnly cookie, for single-page apps.

pub mod authentication;
pub mod cli;
pub mod database;
pub mod http;
pub mod passwords;
pub mod server;
pub mod services;
pub mod sessions;
pub mod telemetry;
pub mod throttle;
pub mod users;
