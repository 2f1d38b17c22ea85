//! spa-auth: server-side sessions behind an HttpOnly cookie, for single-page apps.

pub mod allow;
pub mod authentication;
pub mod cache;
pub mod cli;
pub mod config;
pub mod csrf;
pub mod decoy;
pub mod django;
pub mod docs;
pub mod errors;
pub mod hash_pool;
pub mod head_timeout;
pub mod http;
pub mod metrics;
pub mod passwords;
pub mod security;
pub mod sessions;
pub mod spa;
pub mod spec;
pub mod startup;
pub mod telemetry;
pub mod throttle;
pub mod users;
