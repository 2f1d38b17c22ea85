//! The cost of password hashing and how many hashes may run at once.

use std::time::Duration;

use clap::Args;

/// Cost of password hashing, and how many hashes may run at once.
#[derive(Args, Clone, Debug)]
pub struct PasswordSettings {
    /// argon2id memory in KiB (OWASP: 19456).
    #[arg(long, env = "SPA_AUTH_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    #[arg(long, env = "SPA_AUTH_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// argon2id lanes (OWASP: 1).
    #[arg(long, env = "SPA_AUTH_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; default: the number of cores.
    #[arg(long, env = "SPA_AUTH_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// Logins that may wait for a hashing slot; past that they get 503.
    #[arg(long, env = "SPA_AUTH_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,
    /// How often the stored hashes are surveyed for the decoy of logins without one.
    #[arg(long, env = "SPA_AUTH_DECOY_REFRESH", default_value = "60s", value_parser = humantime::parse_duration)]
    pub decoy_refresh: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("invalid argon2 parameters: {0}")]
    Argon2(String),
    #[error("hash concurrency must be at least 1")]
    NoHashConcurrency,
}

impl PasswordSettings {
    pub fn concurrency(&self) -> usize {
        self.hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}
