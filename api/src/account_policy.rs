//! Account policy: who may sign up, whether an address must be verified to log in, how long
//! mailed links work, and what the account flows (`accounts`) need from the rest of the
//! configuration. Apart from the flows so that `services` can hold it without an import
//! circle (the flows use `services`).

use std::time::Duration;

use clap::{Args, ValueEnum};

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    /// Only an operator (`spa-auth user create`).
    Closed,
    /// Anyone, with an address they prove they receive mail at.
    Open,
    /// Whoever holds an invitation (`spa-auth invite create EMAIL`), for the invited address.
    Invite,
}

#[derive(Args, Clone, Debug)]
pub struct AccountSettings {
    /// Who may sign up: `closed` (operators only), `open`, or `invite`. `open` and `invite`
    /// need mail (`SPA_AUTH_SMTP_URL`).
    #[arg(long, env = "SPA_AUTH_SIGNUP", value_enum, default_value_t = Signup::Closed)]
    pub signup: Signup,
    /// Refuse logins of users who have not verified their address (401 `email_not_verified`,
    /// only after the right password).
    #[arg(long, env = "SPA_AUTH_REQUIRE_VERIFIED_EMAIL", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_verified_email: bool,
    /// How long a password-reset link works.
    #[arg(long, env = "SPA_AUTH_RESET_TOKEN_TTL", default_value = "30m", value_parser = humantime::parse_duration)]
    pub reset_token_ttl: Duration,
    /// How long an email-verification link works.
    #[arg(long, env = "SPA_AUTH_VERIFY_TOKEN_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub verify_token_ttl: Duration,
    /// How long an invitation works.
    #[arg(long, env = "SPA_AUTH_INVITE_TTL", default_value = "7days", value_parser = humantime::parse_duration)]
    pub invite_ttl: Duration,
    /// Mail-sending requests (reset, resend, sign-up) allowed per address in a throttle window.
    #[arg(long, env = "SPA_AUTH_MAIL_PER_ADDRESS", default_value_t = 5)]
    pub mail_per_address: u32,
    /// Mail-sending requests allowed per client IP in a throttle window.
    #[arg(long, env = "SPA_AUTH_MAIL_PER_IP", default_value_t = 20)]
    pub mail_per_ip: u32,
}

impl Accounts {
    /// Whether links can be mailed: a mailer and a public URL to build them from.
    pub fn sends_mail(&self) -> bool {
        self.mail && self.public_url.is_some()
    }
}

/// The account flows' settings, with what they need from elsewhere.
#[derive(Clone, Debug)]
pub struct Accounts {
    pub settings: AccountSettings,
    /// Where links point: the public URL, without a trailing slash. `None` when mail is off.
    pub public_url: Option<String>,
    /// Whether mail can be sent (`SPA_AUTH_SMTP_URL` is set).
    pub mail: bool,
}

impl Accounts {
    /// A link to `path` of the SPA, with `fragment` after `#`: tokens travel in the fragment,
    /// which browsers never send to a server, so they reach no log and no `Referer`.
    pub fn link(&self, path: &str, fragment: Option<(&str, &str)>) -> Option<String> {
        let base = self.public_url.as_deref()?.trim_end_matches('/');
        Some(match fragment {
            Some((k, v)) => format!("{base}{path}#{k}={v}"),
            None => format!("{base}{path}"),
        })
    }
}
