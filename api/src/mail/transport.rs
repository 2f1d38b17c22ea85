//! How a rendered message leaves: over SMTP with lettre (rustls, no OpenSSL), or into the log.
//!
//! The `log` transport writes the whole message, link and token included, to the log (target
//! `mail`): it exists for development and `serve --demo`, where there is no mail server and
//! the person reading the log is the one the mail is for. It is the one place a token is
//! logged on purpose; never use it in production.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use super::{settings::SettingsError, templates::Rendered};

/// Longest wait for each step of an SMTP conversation (connecting, each command).
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a whole delivery may take: a server that answers every command slowly must not
/// hold a message's claim (two minutes) until another instance takes it over.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where messages go.
pub enum Transport {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Log,
}

/// Why a message was not delivered. Neither variant carries the message itself.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the server is unreachable or slow, or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// Will never work: the server answered 5xx, or the address is not one.
    #[error("{0}")]
    Permanent(String),
}

impl Transport {
    /// `log`, or lettre's URL form: `smtp://user:pass@host:port`, `?tls=required` for
    /// STARTTLS, `smtps://` for TLS from the first byte. Opens no connection.
    pub fn from_url(url: &str) -> Result<Transport, SettingsError> {
        if url == "log" {
            return Ok(Transport::Log);
        }
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // lettre's error names the part that is wrong, never the URL (which may hold the
            // password).
            .map_err(|e| SettingsError::InvalidSmtpUrl(e.to_string()))?;
        Ok(Transport::Smtp(Box::new(
            builder.timeout(Some(SMTP_TIMEOUT)).build(),
        )))
    }

    /// Delivers one message with a plain-text and an HTML alternative.
    pub async fn send(&self, from: &Mailbox, to: &str, msg: &Rendered) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient is not an address: {e}")))?;
        match self {
            Transport::Log => {
                tracing::info!(
                    target: "mail",
                    from = %from,
                    to = %to,
                    subject = %msg.subject,
                    text = %msg.text,
                    "mail (log transport: not sent)"
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(msg.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(
                        msg.text.clone(),
                        msg.html.clone(),
                    ))
                    .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
                match tokio::time::timeout(SEND_TIMEOUT, smtp.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(classify(&e)),
                    Err(_) => Err(SendError::Transient(format!(
                        "the SMTP server did not finish within {SEND_TIMEOUT:?}"
                    ))),
                }
            }
        }
    }
}

/// Only a 5xx answer is final: a refused connection, a timeout, a TLS failure or a 4xx answer
/// may all be gone at the next try.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = describe(e);
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// The error and its causes on one line: lettre's own text alone ("Connection error") does
/// not say that the connection was refused.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_forms_of_the_settings_parse_and_others_are_refused_without_the_password() {
        for url in [
            "log",
            "smtp://127.0.0.1:25",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtps://user:pass@mail.example.com:465",
        ] {
            assert!(Transport::from_url(url).is_ok(), "{url}");
        }
        for url in [
            "ftp://user:hunter2@mail.example.com",
            "smtp://",
            "mail.example.com",
        ] {
            match Transport::from_url(url) {
                Ok(_) => panic!("{url} was accepted"),
                Err(e) => assert!(!e.to_string().contains("hunter2"), "{e}"),
            }
        }
    }
}
