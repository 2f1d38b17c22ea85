//! The settings of `spa-auth serve`, flattened into one set of flags and environment variables:
//! the domain's own (in `config`, next to what they configure) and what only serving HTTP needs.

use std::{net::SocketAddr, time::Duration};

use clap::Args;

use crate::{
    account_policy::AccountSettings,
    database::DatabaseSettings,
    mail::{self, MailSettings},
    passkey_policy::{self, PasskeySettings},
    passwords::{self, PasswordSettings},
    second_factor_policy::SecondFactorSettings,
    sessions::{self, SessionSettings},
    telemetry::LogFormat,
    throttle::ThrottleSettings,
};

/// Everything `spa-auth serve` needs.
#[derive(Args, Clone, Debug)]
pub struct ServeSettings {
    /// Address to listen on.
    #[arg(long, env = "SPA_AUTH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Take the client IP from the last `X-Forwarded-For` entry. Only behind a reverse proxy
    /// that sets it; otherwise clients could claim any address.
    #[arg(long, env = "SPA_AUTH_TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,
    /// How often expired sessions are deleted.
    #[arg(long, env = "SPA_AUTH_PURGE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub purge_interval: Duration,
    /// Create a demo user when there are no users, and print its credentials.
    #[arg(long, env = "SPA_AUTH_DEMO", default_value_t = false)]
    pub demo: bool,
    /// Origins of SPAs served from elsewhere (comma-separated, e.g. `https://app.example.com`):
    /// their state-changing requests pass the CSRF check and they get credentialed CORS.
    /// They must be same-site with this service, since the cookie is `SameSite=Lax` or `Strict`.
    #[arg(long, env = "SPA_AUTH_TRUSTED_ORIGINS", value_delimiter = ',')]
    pub trusted_origins: Vec<String>,
    /// The URL people reach the service at (`https://auth.example.com`): scheme, host and
    /// optional port, no path. When set, a state-changing request's `Origin` must be exactly
    /// this or a trusted origin, scheme and port included; without it, `Origin` is compared
    /// with the request's `Host`, which carries no scheme.
    #[arg(long, env = "SPA_AUTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory of a built SPA to serve at `/` (client routes fall back to its index.html;
    /// `/api/*` never does). Without it, only the API is served.
    #[arg(long, env = "SPA_AUTH_SPA_DIR")]
    pub spa_dir: Option<std::path::PathBuf>,
    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "SPA_AUTH_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,
    /// A request body must arrive within this time; slower clients get 408.
    #[arg(long, env = "SPA_AUTH_BODY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,
    /// A connection whose client sends nothing for this long while the server waits to read
    /// is closed: idle keep-alives, and clients that stall in the middle of their headers.
    #[arg(long, env = "SPA_AUTH_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// A request's head (request line and headers) must arrive within this time from its
    /// first byte, however steadily it trickles; slower clients are disconnected.
    #[arg(long, env = "SPA_AUTH_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// Serve Prometheus metrics at `/metrics` on this separate address (e.g. 127.0.0.1:9090).
    /// Off by default: metrics describe traffic and should not be public.
    #[arg(long, env = "SPA_AUTH_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// Log lines as text or JSON.
    #[arg(long, env = "SPA_AUTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub session: SessionSettings,
    #[command(flatten)]
    pub password: PasswordSettings,
    #[command(flatten)]
    pub throttle: ThrottleSettings,
    #[command(flatten)]
    pub accounts: AccountSettings,
    #[command(flatten)]
    pub mail: MailSettings,
    #[command(flatten)]
    pub second_factor: SecondFactorSettings,
    #[command(flatten)]
    pub passkey: PasskeySettings,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error(transparent)]
    Sessions(#[from] sessions::SettingsError),
    #[error(transparent)]
    Passwords(#[from] passwords::SettingsError),
    #[error(transparent)]
    Mail(#[from] mail::SettingsError),
    #[error(transparent)]
    SecondFactor(#[from] crate::second_factor_policy::SettingsError),
    #[error(transparent)]
    Passkey(#[from] passkey_policy::SettingsError),
    #[error(
        "trusted origin {0:?} is not of the form http(s)://host[:port] (no path, query or user info)"
    )]
    InvalidOrigin(String),
    #[error(
        "public URL {0:?} is not of the form http(s)://host[:port] (no path, query or user info)"
    )]
    InvalidPublicUrl(String),
    #[error("the header timeout must be positive")]
    NoHeaderTimeout,
    #[error("SPA_AUTH_SPA_DIR {0:?} {1}")]
    SpaDir(String, &'static str),
}

impl ServeSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.spa_auth().validate()?;
        if self.header_timeout.is_zero() {
            return Err(SettingsError::NoHeaderTimeout);
        }
        if let Some(dir) = &self.spa_dir {
            // Caught here rather than as a 404 for every page once deployed.
            let problem = match (dir.is_dir(), dir.join("index.html").is_file()) {
                (false, _) => Some("is not a directory"),
                (true, false) => Some("has no index.html (is it the SPA's build output?)"),
                (true, true) => None,
            };
            if let Some(problem) = problem {
                return Err(SettingsError::SpaDir(dir.display().to_string(), problem));
            }
        }
        Ok(())
    }

    /// What `spa-auth serve` runs with when given no flags and no environment: the defaults
    /// declared above, read from the declarations themselves so they exist once.
    pub fn defaults() -> ServeSettings {
        use clap::{FromArgMatches, Parser};
        #[derive(Parser)]
        struct Serve {
            #[command(flatten)]
            settings: ServeSettings,
        }
        // Without `env`, so that a variable set for something else cannot leak into a default.
        let command = <Serve as clap::CommandFactory>::command().mut_args(|a| a.env(None));
        let parsed = command
            .try_get_matches_from(["spa-auth"])
            .and_then(|m| Serve::from_arg_matches(&m));
        match parsed {
            Ok(serve) => serve.settings,
            // Every flag has a default, so this is a mistake in the declarations above.
            Err(e) => panic!("the defaults of `spa-auth serve` do not parse: {e}"),
        }
    }

    /// The part of these settings that the sessions, the API and the background work use
    /// (everything but listening, logging and the database connection).
    pub fn spa_auth(&self) -> SpaAuthSettings {
        SpaAuthSettings {
            session: self.session.clone(),
            password: self.password.clone(),
            throttle: self.throttle.clone(),
            accounts: self.accounts.clone(),
            mail: self.mail.clone(),
            second_factor: self.second_factor.clone(),
            passkey: self.passkey.clone(),
            trust_proxy: self.trust_proxy,
            trusted_origins: self.trusted_origins.clone(),
            public_url: self.public_url.clone(),
            purge_interval: self.purge_interval,
            max_body_bytes: self.max_body_bytes,
            body_timeout: self.body_timeout,
        }
    }
}

/// spa-auth's settings inside a host application: those of `spa-auth serve` but for where to
/// listen, logging and the database, which the host owns. See [`ServeSettings`] for what each
/// means; [`Default`] gives the same values as `spa-auth serve` without flags.
#[derive(Clone, Debug)]
pub struct SpaAuthSettings {
    /// The session cookie, the lifetimes of sessions and the cache.
    pub session: SessionSettings,
    /// Password hashing cost and concurrency, and the decoy survey's interval.
    pub password: PasswordSettings,
    /// Login throttling.
    pub throttle: ThrottleSettings,
    /// Sign-up, email verification and password reset by email.
    pub accounts: AccountSettings,
    /// How mail is sent.
    pub mail: MailSettings,
    /// The key that encrypts TOTP secrets, and the issuer authenticator apps show.
    pub second_factor: SecondFactorSettings,
    /// How long a passkey ceremony may take (the relying party is `public_url`).
    pub passkey: PasskeySettings,
    /// Take the client IP from the last `X-Forwarded-For` entry (behind your own proxy only).
    pub trust_proxy: bool,
    /// Origins of SPAs served from elsewhere whose unsafe requests pass the CSRF check.
    pub trusted_origins: Vec<String>,
    /// The URL people reach the service at; unsafe requests' `Origin` must match it exactly.
    pub public_url: Option<String>,
    /// How often expired sessions and login counters are deleted.
    pub purge_interval: Duration,
    /// Largest request body spa-auth's own API accepts.
    pub max_body_bytes: usize,
    /// A request body to spa-auth's own API must arrive within this time.
    pub body_timeout: Duration,
}

impl Default for SpaAuthSettings {
    fn default() -> Self {
        ServeSettings::defaults().spa_auth()
    }
}

impl SpaAuthSettings {
    /// The account flows' part, with what they need from the rest.
    pub fn accounts(&self) -> crate::account_policy::Accounts {
        crate::account_policy::Accounts {
            settings: self.accounts.clone(),
            public_url: self.public_url.clone(),
            mail: self.mail.enabled(),
        }
    }

    /// Refuses settings browsers would silently ignore or that contradict each other.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.session.validate()?;
        for origin in &self.trusted_origins {
            if crate::http::middleware::csrf::SiteOrigin::parse(origin).is_none() {
                return Err(SettingsError::InvalidOrigin(origin.clone()));
            }
        }
        if let Some(url) = &self.public_url
            && crate::http::middleware::csrf::SiteOrigin::parse(url).is_none()
        {
            return Err(SettingsError::InvalidPublicUrl(url.clone()));
        }
        if self.password.concurrency() == 0 {
            return Err(passwords::SettingsError::NoHashConcurrency.into());
        }
        crate::passwords::params(&self.password)?;
        self.validate_mail()?;
        self.second_factor.validate()?;
        self.passkey.validate()?;
        Ok(())
    }

    /// Mail that can leave and links that lead somewhere; sign-up that needs mail has it.
    fn validate_mail(&self) -> Result<(), mail::SettingsError> {
        use crate::accounts::Signup;
        if !self.mail.enabled() {
            return match self.accounts.signup {
                Signup::Closed => Ok(()),
                Signup::Open => Err(mail::SettingsError::SignupWithoutMail("open")),
                Signup::Invite => Err(mail::SettingsError::SignupWithoutMail("invite")),
            };
        }
        self.mail.validate()?;
        if self.public_url.is_none() {
            return Err(mail::SettingsError::NoPublicUrl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_those_of_serve_without_flags() {
        let d = ServeSettings::defaults();
        assert_eq!(d.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(d.session.cookie_name, "__Host-session");
        assert_eq!(d.session.invalidation_poll, Duration::from_millis(50));
        assert_eq!(d.session.invalidation_push, sessions::Push::Auto);
        assert_eq!(d.session.invalidation_safety_poll, Duration::from_secs(1));
        assert_eq!(d.session.push_on(true), Ok(true));
        assert_eq!(d.session.push_on(false), Ok(false));
        assert_eq!(d.purge_interval, Duration::from_secs(3600));
        assert!(SpaAuthSettings::default().validate().is_ok());
    }
}
