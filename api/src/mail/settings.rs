//! How mail leaves: the SMTP server (or the log, for development), the sender address, the
//! templates, and how the background sender retries.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use lettre::message::Mailbox;

use super::transport::Transport;

#[derive(Args, Clone, Debug)]
pub struct MailSettings {
    /// Where mail goes: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS from the start), `smtp://host:25` (plain, for a local
    /// relay), or `log` to print each message and its link to the log (development; what
    /// `serve --demo` uses). Unset: no mail, so no sign-up, verification or reset by email.
    #[arg(long, env = "SPA_AUTH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The `From` of every message, e.g. `Example <no-reply@example.com>`.
    #[arg(long, env = "SPA_AUTH_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Directory of templates that replace the built-in ones, file by file
    /// (`password_reset.subject.txt`, `password_reset.txt`, `password_reset.html`, ...).
    #[arg(long, env = "SPA_AUTH_MAIL_TEMPLATES")]
    pub mail_templates: Option<PathBuf>,
    /// How often the sender looks for mail to deliver (messages queued by this instance are
    /// sent at once).
    #[arg(long, env = "SPA_AUTH_MAIL_POLL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub mail_poll: Duration,
    /// The wait before the first retry of a message the SMTP server did not take; it doubles
    /// at each further attempt, up to an hour, and a message is given up after 12 attempts.
    #[arg(long, env = "SPA_AUTH_MAIL_RETRY_BASE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub mail_retry_base: Duration,
}

/// Mail settings that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The URL itself is not repeated: it may hold the SMTP password.
    #[error(
        "SPA_AUTH_SMTP_URL is not `log` nor a usable smtp:// or smtps:// URL ({0}); \
         e.g. smtp://user:pass@mail.example.com:587?tls=required"
    )]
    InvalidSmtpUrl(String),
    #[error(
        "SPA_AUTH_MAIL_FROM is required when mail is on (SPA_AUTH_SMTP_URL is set), \
         e.g. `Example <no-reply@example.com>`"
    )]
    NoFrom,
    #[error(
        "SPA_AUTH_MAIL_FROM {0:?} is not a mail address such as `Example <no-reply@example.com>`"
    )]
    InvalidFrom(String),
    #[error(
        "SPA_AUTH_PUBLIC_URL is required when mail is on (SPA_AUTH_SMTP_URL is set): the links \
         in mail point there"
    )]
    NoPublicUrl,
    #[error("SPA_AUTH_SIGNUP={0} needs mail: set SPA_AUTH_SMTP_URL (and SPA_AUTH_MAIL_FROM)")]
    SignupWithoutMail(&'static str),
    #[error("the mail poll interval and retry base must be positive")]
    NoInterval,
}

impl MailSettings {
    /// Whether any mail can be sent.
    pub fn enabled(&self) -> bool {
        self.smtp_url.is_some()
    }

    /// Checks what can be checked without a network: the URL parses, the sender address is a
    /// mailbox. Nothing to check when mail is off.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let Some(url) = &self.smtp_url else {
            return Ok(());
        };
        Transport::from_url(url)?;
        self.from()?;
        if self.mail_poll.is_zero() || self.mail_retry_base.is_zero() {
            return Err(SettingsError::NoInterval);
        }
        Ok(())
    }

    /// The sender's mailbox.
    pub fn from(&self) -> Result<Mailbox, SettingsError> {
        let from = self.mail_from.as_deref().ok_or(SettingsError::NoFrom)?;
        from.parse()
            .map_err(|_| SettingsError::InvalidFrom(from.to_owned()))
    }
}
