//! Accounts people run themselves: sign-up, email verification, password reset by email.
//! Every link carries a single-use token ([`tokens`]) made when its mail is delivered
//! ([`compose`]), so no table ever holds one in the clear.

pub mod compose;
pub mod email;
pub mod reset;
pub mod signup;
pub mod tokens;

use std::time::Duration;

use sea_orm::DbErr;

pub use crate::account_policy::{AccountSettings, Accounts, Signup};

use crate::passwords::{PasswordError, PasswordRejected};

/// Why an account flow did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Closed sign-up, or no mail to send links with.
    #[error("{0}")]
    NotEnabled(&'static str),
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("username must be 1 to 150 characters: letters, digits and @ . + - _ only")]
    InvalidUsername,
    #[error("this username is taken")]
    UsernameTaken,
    #[error("another account has this email address")]
    EmailTaken,
    /// Unknown, expired, used, or bound to something that changed since it was mailed.
    #[error("this link is invalid or has expired; ask for a new one")]
    InvalidToken,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("too many requests; retry after {retry_after} seconds")]
    Throttled { retry_after: u64 },
    #[error(transparent)]
    Rejected(#[from] PasswordRejected),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Auth(#[from] crate::authentication::AuthError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<crate::users::UserError> for AccountError {
    fn from(e: crate::users::UserError) -> Self {
        use crate::users::UserError;
        match e {
            UserError::UsernameTaken(_) => AccountError::UsernameTaken,
            UserError::EmailTaken => AccountError::EmailTaken,
            UserError::InvalidUsername => AccountError::InvalidUsername,
            UserError::NotFound(_) => AccountError::InvalidToken,
            UserError::Db(e) => AccountError::Db(e),
        }
    }
}

/// `Err(NotEnabled)` unless links can be mailed.
pub(crate) fn require_mail(accounts: &Accounts) -> Result<(), AccountError> {
    match accounts.sends_mail() {
        true => Ok(()),
        false => Err(AccountError::NotEnabled(
            "this server sends no mail (SPA_AUTH_SMTP_URL is not set)",
        )),
    }
}

/// Longest address accepted (RFC 5321's limit on a path).
pub const MAX_EMAIL: usize = 254;

/// An address mail can be sent to: `local@domain.tld`, no display name, no IP literal, no
/// control characters, at most 254 bytes. Checked by the `email_address` crate (RFC 5322).
pub fn valid_email(email: &str) -> bool {
    use email_address::{EmailAddress, Options};
    let options = Options::default()
        .with_required_tld()
        .without_domain_literal()
        .without_display_text();
    email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
        && EmailAddress::parse_with_options(email, options).is_ok()
}

/// `30 minutes`, `24 hours`, `7 days`: for the text of a mail.
pub fn human_duration(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    let (n, unit) = if mins.is_multiple_of(24 * 60) && mins >= 24 * 60 {
        (mins / (24 * 60), "day")
    } else if mins.is_multiple_of(60) && mins >= 60 {
        (mins / 60, "hour")
    } else {
        (mins.max(1), "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_by_the_rfc_and_for_deliverability() {
        assert!(valid_email("alice@example.com"));
        assert!(valid_email("a.b+tag@sub.example.co.uk"));
        assert!(valid_email("zoë@exämple.com"));
        assert!(!valid_email("alice"));
        assert!(!valid_email("alice@localhost"));
        assert!(!valid_email("Alice <alice@example.com>"));
        assert!(!valid_email("alice@[192.0.2.1]"));
        assert!(!valid_email("al ice@example.com"));
        assert!(!valid_email("alice@example.com\0"));
        assert!(!valid_email("alice@example.com\r\nBcc: x@example.com"));
        assert!(!valid_email(&format!("{}@example.com", "a".repeat(250))));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(Duration::from_secs(30 * 60)), "30 minutes");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human_duration(Duration::from_secs(24 * 3600)), "1 day");
        assert_eq!(human_duration(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(human_duration(Duration::from_secs(7 * 24 * 3600)), "7 days");
    }
}
