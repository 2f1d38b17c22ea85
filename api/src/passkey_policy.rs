//! Passkey policy: who the relying party is and how long a ceremony may take. Apart from the
//! flows (`passkeys`) so that `services` can hold it without an import circle (the flows use
//! `services`), as `second_factor_policy` is.

use std::time::Duration;

use clap::Args;
use webauthn_rs::{Webauthn, WebauthnBuilder, prelude::Url};

/// How long a passkey ceremony may take.
#[derive(Args, Clone, Debug)]
pub struct PasskeySettings {
    /// How long the challenge of a passkey ceremony (registering a passkey, logging in or
    /// re-authenticating with one) stays good; each is good once. The relying party is the
    /// host of `SPA_AUTH_PUBLIC_URL`: without a public URL (or with an IP address in it)
    /// passkeys are off (403 `not_enabled`).
    #[arg(long, env = "SPA_AUTH_PASSKEY_CHALLENGE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub passkey_challenge_timeout: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("the passkey challenge timeout (SPA_AUTH_PASSKEY_CHALLENGE_TIMEOUT) must be positive")]
    NoChallengeTimeout,
}

impl PasskeySettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.passkey_challenge_timeout.is_zero() {
            return Err(SettingsError::NoChallengeTimeout);
        }
        Ok(())
    }
}

/// The passkey part of the services: the verifier, when this server can offer passkeys.
#[derive(Clone)]
pub struct Passkeys {
    webauthn: Option<std::sync::Arc<Webauthn>>,
    challenge_timeout: Duration,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys")
            .field("enabled", &self.webauthn.is_some())
            .field("challenge_timeout", &self.challenge_timeout)
            .finish()
    }
}

impl Passkeys {
    /// The relying party is the public URL's host and its origin the public URL: what the
    /// browser reports in every answer, checked by the verifier. Browsers refuse an IP
    /// address as relying party, so then, as without a public URL, passkeys are off.
    pub fn new(
        settings: &PasskeySettings,
        public_url: Option<&str>,
    ) -> Result<Passkeys, SettingsError> {
        settings.validate()?;
        let webauthn = public_url.and_then(|url| match relying_party(url) {
            Ok(webauthn) => Some(std::sync::Arc::new(webauthn)),
            Err(why) => {
                tracing::warn!(public_url = url, why, "passkeys are off");
                None
            }
        });
        Ok(Passkeys {
            webauthn,
            challenge_timeout: settings.passkey_challenge_timeout,
        })
    }

    /// The verifier, if this server offers passkeys.
    pub fn webauthn(&self) -> Option<&Webauthn> {
        self.webauthn.as_deref()
    }

    /// How long a ceremony's challenge stays good.
    pub fn challenge_timeout(&self) -> Duration {
        self.challenge_timeout
    }
}

fn relying_party(public_url: &str) -> Result<Webauthn, &'static str> {
    let origin = Url::parse(public_url).map_err(|_| "the public URL does not parse")?;
    let rp_id = origin
        .domain()
        .ok_or("a relying party must be a domain name, not an IP address")?
        .to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|builder| builder.build())
        .map_err(|_| "the verifier refused the public URL")
}
