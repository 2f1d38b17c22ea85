//! How mail leaves: the SMTP server (or the log, for development), the sender address, the
//! templates, and how the background sender retries.

use std::{path::PathBuf, time::Duration};

use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct MailSettings {
    /// Where mail goes: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS from the start), `smtp://host:25` (plain, for a local
    /// relay), or `log` to print each message and its link to the log (development; what
    /// `serve --demo` uses). Unset: no mail, so no sign-up, verification or reset by email.
    #[arg(long, env = "SPA_AUTH_SMTP_URL")]
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
}

impl MailSettings {
    /// Whether any mail can be sent.
    pub fn enabled(&self) -> bool {
        self.smtp_url.is_some()
    }
}
