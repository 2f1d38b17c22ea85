//! The session cookie and the lifetimes of sessions: flags and `SPA_AUTH_*` variables, checked
//! at start for what browsers would silently ignore.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// The idle lifetime of a session without "remember me" unless configured: a working day.
pub const DEFAULT_IDLE_TIMEOUT_SHORT: Duration = Duration::from_secs(12 * 3600);

/// Whether changes are pushed to every instance (PostgreSQL `LISTEN`/`NOTIFY`) or only polled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Push {
    /// On for PostgreSQL, off for SQLite (one machine, one file: the poll is cheap there).
    Auto,
    /// Requires PostgreSQL.
    On,
    Off,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SameSite {
    Lax,
    Strict,
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
    /// Idle lifetime of a session opened without "remember me" (`?remember=false`), whose
    /// cookie dies with the browser: shorter, since such a login is typically on a shared
    /// device. Defaults to 12h, or to the idle timeout if that is shorter, so that a deployment
    /// with a short idle timeout need not set it; set explicitly, it must not be longer.
    #[arg(long, env = "SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT", value_parser = humantime::parse_duration)]
    pub session_idle_timeout_short: Option<Duration>,
    /// A session ends this long after login, however much it is used.
    #[arg(long, env = "SPA_AUTH_SESSION_ABSOLUTE_TIMEOUT", default_value = "30days", value_parser = humantime::parse_duration)]
    pub session_absolute_timeout: Duration,
    /// The idle deadline is pushed forward at most this often per session, so that a
    /// session check is normally a read and not a write.
    #[arg(long, env = "SPA_AUTH_SESSION_REFRESH_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub session_refresh_interval: Duration,
    /// How long this instance may answer a session check from memory before reading the
    /// database again, as a safety net; ended sessions are dropped from the cache at once
    /// here, and elsewhere as the change is pushed (or within `invalidation_poll`). `0s` turns
    /// the cache off.
    #[arg(long, env = "SPA_AUTH_SESSION_CACHE_TTL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub session_cache_ttl: Duration,
    /// Most sessions cached per instance.
    #[arg(long, env = "SPA_AUTH_SESSION_CACHE_MAX", default_value_t = 100_000)]
    pub session_cache_max: usize,
    /// How often each instance asks the database which users' sessions changed elsewhere
    /// (other instances, the CLI) when changes are not pushed to it: with push off, and while
    /// its listening connection is down.
    #[arg(long, env = "SPA_AUTH_INVALIDATION_POLL", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub invalidation_poll: Duration,
    /// Push changes to every instance at once with PostgreSQL `LISTEN`/`NOTIFY`: `auto` (on for
    /// PostgreSQL, off for SQLite), `on` or `off`.
    #[arg(long, env = "SPA_AUTH_INVALIDATION_PUSH", value_enum, default_value_t = Push::Auto)]
    pub invalidation_push: Push,
    /// How often each instance still polls while changes are pushed to it: the safety net.
    #[arg(long, env = "SPA_AUTH_INVALIDATION_SAFETY_POLL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub invalidation_safety_poll: Duration,
    /// How long a session that still awaits its second factor lives: the time a user has to
    /// type the code after the password. Short, since such a session proves only the password.
    #[arg(long, env = "SPA_AUTH_SECOND_FACTOR_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub second_factor_timeout: Duration,
    /// Sensitive changes (password, address, second factors, ending other sessions) need the
    /// user to have proved who they are within this time (at login or with
    /// `/api/auth/reauthenticate`), so that a session left open is not enough for them.
    #[arg(long, env = "SPA_AUTH_REAUTH_WINDOW", default_value = "10m", value_parser = humantime::parse_duration)]
    pub reauth_window: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
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
    #[error(
        "the short session idle timeout (SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT) must be positive and not longer than the idle timeout"
    )]
    ShortIdleLongerThanIdle,
    #[error(
        "session refresh interval must be shorter than the short idle timeout (SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT): a session without remember-me would otherwise never slide"
    )]
    RefreshNotShorterThanShortIdle,
    #[error(
        "invalidation poll must be between 1ms and 5s (it bounds how long another instance may serve an ended session)"
    )]
    InvalidationPoll,
    #[error("the safety-net poll must be between 1ms and 60s")]
    InvalidationSafetyPoll,
    #[error(
        "SPA_AUTH_INVALIDATION_PUSH=on needs PostgreSQL (LISTEN/NOTIFY); SQLite polls (use auto or off)"
    )]
    PushNeedsPostgres,
    #[error("the second-factor timeout (SPA_AUTH_SECOND_FACTOR_TIMEOUT) must be positive")]
    NoSecondFactorTimeout,
}

impl SessionSettings {
    /// Refuses settings that browsers would silently ignore or that contradict each other.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let name = &self.cookie_name;
        let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token_char) {
            return Err(SettingsError::InvalidCookieName(name.clone()));
        }
        if name.starts_with("__Host-") && !self.cookie_secure {
            return Err(SettingsError::HostPrefixWithoutSecure(name.clone()));
        }
        if name.starts_with("__Secure-") && !self.cookie_secure {
            return Err(SettingsError::SecurePrefixWithoutSecure(name.clone()));
        }
        if self.session_idle_timeout.is_zero()
            || self.session_idle_timeout > self.session_absolute_timeout
        {
            return Err(SettingsError::IdleLongerThanAbsolute);
        }
        if self.session_refresh_interval >= self.session_idle_timeout {
            return Err(SettingsError::RefreshNotShorterThanIdle);
        }
        // Longer than the idle timeout would make "remember me" the shorter-lived choice; the
        // absolute timeout bounds it through the idle timeout.
        if let Some(short) = self.session_idle_timeout_short
            && (short.is_zero() || short > self.session_idle_timeout)
        {
            return Err(SettingsError::ShortIdleLongerThanIdle);
        }
        if self.session_refresh_interval >= self.idle_timeout_short() {
            return Err(SettingsError::RefreshNotShorterThanShortIdle);
        }
        if self.invalidation_poll.is_zero() || self.invalidation_poll > Duration::from_secs(5) {
            return Err(SettingsError::InvalidationPoll);
        }
        if self.invalidation_safety_poll.is_zero()
            || self.invalidation_safety_poll > Duration::from_secs(60)
        {
            return Err(SettingsError::InvalidationSafetyPoll);
        }
        if self.second_factor_timeout.is_zero() {
            return Err(SettingsError::NoSecondFactorTimeout);
        }
        Ok(())
    }

    /// The idle lifetime of a session without "remember me": as set, else 12 hours or the idle
    /// timeout if that is shorter.
    pub fn idle_timeout_short(&self) -> Duration {
        self.session_idle_timeout_short
            .unwrap_or(DEFAULT_IDLE_TIMEOUT_SHORT.min(self.session_idle_timeout))
    }

    /// Whether changes are pushed on this database (`postgres`: it is PostgreSQL), or the
    /// settings ask for the impossible.
    pub fn push_on(&self, postgres: bool) -> Result<bool, SettingsError> {
        match (self.invalidation_push, postgres) {
            (Push::Off, _) => Ok(false),
            (Push::Auto, postgres) => Ok(postgres),
            (Push::On, true) => Ok(true),
            (Push::On, false) => Err(SettingsError::PushNeedsPostgres),
        }
    }
}
