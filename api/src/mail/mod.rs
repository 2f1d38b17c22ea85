//! Mail: what spa-auth sends (verification links, password resets, notices), queued in the
//! `mail_outbox` table and delivered by a background sender, so that sending never blocks or
//! fails a request and a restart or an SMTP outage loses nothing.
//!
//! An outbox row names a [`MailKind`], a recipient and the parameters of the message, never a
//! token: a link's token is made when the message is delivered (see `accounts::compose`), so
//! the database holds tokens only as hashes, as it holds sessions.

pub mod outbox;
pub mod sender;
pub mod settings;
pub mod templates;
pub mod transport;

pub use sender::{MailError, Sender};
pub use settings::{MailSettings, SettingsError};

use serde_json::{Map, Value};

/// Every message spa-auth sends. The wire name is the template's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// "Confirm your address": a link with a `verify_email` token (sign-up, resend, email change).
    VerifyEmail,
    /// To the old address when a change to a new one was asked for.
    EmailChangeRequested,
    /// "Reset your password": a link with a `reset_password` token.
    PasswordReset,
    /// "Your password was changed" (reset, API, CLI).
    PasswordChanged,
    /// "Someone tried to sign up with your address" (sign-up with an address that has an account).
    SignupAttempted,
    /// "You are invited": a link with an `invite` token.
    Invite,
}

impl MailKind {
    pub const ALL: [MailKind; 6] = [
        MailKind::VerifyEmail,
        MailKind::EmailChangeRequested,
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::SignupAttempted,
        MailKind::Invite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::EmailChangeRequested => "email_change_requested",
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::SignupAttempted => "signup_attempted",
            MailKind::Invite => "invite",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A message ready to render: its kind (the template), the address and the template's
/// variables (the link with its token among them).
#[derive(Debug, Clone)]
pub struct Composed {
    pub kind: MailKind,
    pub to: String,
    pub vars: Map<String, Value>,
}

/// Why an outbox row could not be turned into a message.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Try again later (the database failed).
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    /// The row can never be sent (an unknown kind, parameters of the wrong shape).
    #[error("{0}")]
    Invalid(String),
}
