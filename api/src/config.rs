//! Settings: every one is a command-line flag and a `SPA_AUTH_*` environment variable.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// Where the data lives. Shared by every command that touches the database.
#[derive(Args, Clone, Debug)]
pub struct DatabaseSettings {
    /// SQLite file (`sqlite://path?mode=rwc`) or PostgreSQL (`postgres://user@host/db`).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://spa-auth.db?mode=rwc"
    )]
    pub database_url: String,
    /// Connections in the pool of this instance.
    #[arg(long, env = "SPA_AUTH_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "SPA_AUTH_DB_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub db_timeout: Duration,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SameSite {
    Lax,
    Strict,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The session cookie and the lifetimes of sessions.
#[derive(Args, Clone, Debug)]
pub struct SessionSettings {
    /// Name of the session cookie. The `__Host-` prefix makes browsers refuse it unless it is
    /// Secure, has `Path=/` and no `Domain`, so no subdomain can plant or overwrite it.
    #[arg(long, env = "SPA_AUTH_COOKIE_NAME", default_value = "__Host-session")]
    pub cookie_name: String,
    /// Send the cookie with `Secure`. Browsers treat http://localhost as secure, so the default
    /// works in development too; only turn it off for a plain-HTTP host that is not localhost.
    #[arg(long, env = "SPA_AUTH_COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,
    /// `SameSite` of the session cookie.
    #[arg(long, env = "SPA_AUTH_COOKIE_SAME_SITE", value_enum, default_value_t = SameSite::Lax)]
    pub cookie_same_site: SameSite,
    /// A session unused for this long ends (slides with use). Django's SESSION_COOKIE_AGE.
    #[arg(long, env = "SPA_AUTH_SESSION_IDLE_TIMEOUT", default_value = "14days", value_parser = humantime::parse_duration)]
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however much it is used.
    #[arg(long, env = "SPA_AUTH_SESSION_ABSOLUTE_TIMEOUT", default_value = "30days", value_parser = humantime::parse_duration)]
    pub session_absolute_timeout: Duration,
    /// The idle deadline is pushed forward at most this often per session, so that a
    /// session check is normally a read and not a write.
    #[arg(long, env = "SPA_AUTH_SESSION_REFRESH_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub session_refresh_interval: Duration,
    /// How long this instance may answer a session check from memory before reading the
    /// database again, as a safety net; ended sessions are dropped from the cache at once
    /// here and within `invalidation_poll` elsewhere. `0s` turns the cache off.
    #[arg(long, env = "SPA_AUTH_SESSION_CACHE_TTL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub session_cache_ttl: Duration,
    /// Most sessions cached per instance.
    #[arg(long, env = "SPA_AUTH_SESSION_CACHE_MAX", default_value_t = 100_000)]
    pub session_cache_max: usize,
    /// How often each instance asks the database which users' sessions changed elsewhere
    /// (other instances, the CLI). Bounds how stale another instance's cache can be.
    #[arg(long, env = "SPA_AUTH_INVALIDATION_POLL", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub invalidation_poll: Duration,
}

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

/// Failed-login limits. Each is a count of failures within one window; past it, logins for
/// that key get 429 until the window ends. The pair limit stops guessing one account from one
/// address; the address limit stops spraying many accounts from one address; the account
/// limit stops a distributed attack on one account and is set well above what one address
/// may reach, so that nobody on a single address can lock the real user out.
#[derive(Args, Clone, Debug)]
pub struct ThrottleSettings {
    /// Length of a counting window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub throttle_window: Duration,
    /// Failures allowed per (client address, account) in a window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_PER_PAIR", default_value_t = 5)]
    pub throttle_per_pair: u32,
    /// Failures allowed per client address, over all accounts, in a window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_PER_IP", default_value_t = 50)]
    pub throttle_per_ip: u32,
    /// Failures allowed per account, over all addresses, in a window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_PER_ACCOUNT", default_value_t = 200)]
    pub throttle_per_account: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "cookie name {0:?} starts with __Host- but cookie_secure is off: browsers would silently drop the cookie; turn SPA_AUTH_COOKIE_SECURE on or choose another name"
    )]
    HostPrefixWithoutSecure(String),
    #[error(
        "cookie name {0:?} starts with __Secure- but cookie_secure is off: browsers would silently drop the cookie"
    )]
    SecurePrefixWithoutSecure(String),
    #[error(
        "cookie name {0:?} is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"
    )]
    InvalidCookieName(String),
    #[error("session idle timeout must be positive and not longer than the absolute timeout")]
    IdleLongerThanAbsolute,
    #[error("session refresh interval must be shorter than the idle timeout")]
    RefreshNotShorterThanIdle,
    #[error("invalid argon2 parameters: {0}")]
    Argon2(String),
    #[error(
        "invalidation poll must be between 1ms and 5s (it bounds how long another instance may serve an ended session)"
    )]
    InvalidationPoll,
    #[error("hash concurrency must be at least 1")]
    NoHashConcurrency,
}

impl SessionSettings {
    /// Refuses settings that browsers would silently ignore or that contradict each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.cookie_name;
        let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token_char) {
            return Err(ConfigError::InvalidCookieName(name.clone()));
        }
        if name.starts_with("__Host-") && !self.cookie_secure {
            return Err(ConfigError::HostPrefixWithoutSecure(name.clone()));
        }
        if name.starts_with("__Secure-") && !self.cookie_secure {
            return Err(ConfigError::SecurePrefixWithoutSecure(name.clone()));
        }
        if self.session_idle_timeout.is_zero()
            || self.session_idle_timeout > self.session_absolute_timeout
        {
            return Err(ConfigError::IdleLongerThanAbsolute);
        }
        if self.session_refresh_interval >= self.session_idle_timeout {
            return Err(ConfigError::RefreshNotShorterThanIdle);
        }
        if self.invalidation_poll.is_zero() || self.invalidation_poll > Duration::from_secs(5) {
            return Err(ConfigError::InvalidationPoll);
        }
        Ok(())
    }
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
