//! Second-factor policy: the server's secret key that seals TOTP secrets, and how TOTP
//! presents itself. Apart from the flows (`second_factor`) so that `services` can hold it
//! without an import circle (the flows use `services`).

pub mod key;

use clap::Args;

pub use key::{KeyError, Keys, SealError, SecretKey};

/// The server's secret key and how TOTP presents itself.
#[derive(Args, Clone, Debug)]
pub struct SecondFactorSettings {
    /// Key that encrypts TOTP secrets at rest: base64 of 32 random bytes
    /// (`openssl rand -base64 32`). Without it TOTP cannot be turned on (403 `not_enabled`);
    /// a malformed one refuses the start.
    #[arg(long, env = "SPA_AUTH_SECRET_KEY", value_parser = secret_text, hide_env_values = true)]
    pub secret_key: Option<SecretText>,
    /// The key before a rotation: still decrypts, and what it decrypts is re-encrypted with
    /// `SPA_AUTH_SECRET_KEY` when used.
    #[arg(long, env = "SPA_AUTH_SECRET_KEY_PREVIOUS", value_parser = secret_text, hide_env_values = true)]
    pub secret_key_previous: Option<SecretText>,
    /// The name authenticator apps show beside the account.
    #[arg(long, env = "SPA_AUTH_TOTP_ISSUER", default_value = "spa-auth")]
    pub totp_issuer: String,
}

/// A key as configured, not yet parsed: parsed by [`SecondFactorSettings::validate`], so that
/// a malformed key refuses the start without being echoed, as a command-line parser would.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(***)")
    }
}

fn secret_text(text: &str) -> Result<SecretText, std::convert::Infallible> {
    Ok(SecretText(text.to_owned()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("SPA_AUTH_SECRET_KEY: {0}")]
    InvalidKey(KeyError),
    #[error("SPA_AUTH_SECRET_KEY_PREVIOUS: {0}")]
    InvalidPreviousKey(KeyError),
    #[error("SPA_AUTH_SECRET_KEY_PREVIOUS is set without SPA_AUTH_SECRET_KEY")]
    PreviousWithoutCurrent,
    #[error("the TOTP issuer (SPA_AUTH_TOTP_ISSUER) must be non-empty and contain no colon")]
    InvalidIssuer,
}

impl SecondFactorSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.keys()?;
        if self.secret_key.is_none() && self.secret_key_previous.is_some() {
            return Err(SettingsError::PreviousWithoutCurrent);
        }
        // The otpauth URI's label is `issuer:account`.
        if self.totp_issuer.trim().is_empty() || self.totp_issuer.contains(':') {
            return Err(SettingsError::InvalidIssuer);
        }
        Ok(())
    }

    /// The keys as configured, parsed.
    fn keys(&self) -> Result<Option<Keys>, SettingsError> {
        let parse = |text: &Option<SecretText>, err: fn(KeyError) -> SettingsError| {
            text.as_ref()
                .map(|t| SecretKey::parse(&t.0).map_err(err))
                .transpose()
        };
        let current = parse(&self.secret_key, SettingsError::InvalidKey)?;
        let previous = parse(&self.secret_key_previous, SettingsError::InvalidPreviousKey)?;
        Ok(current.map(|current| Keys { current, previous }))
    }
}

/// The second-factor part of the services.
#[derive(Clone, Debug)]
pub struct SecondFactor {
    keys: Option<Keys>,
    issuer: String,
}

impl SecondFactor {
    pub fn new(settings: &SecondFactorSettings) -> Result<SecondFactor, SettingsError> {
        settings.validate()?;
        Ok(SecondFactor {
            keys: settings.keys()?,
            issuer: settings.totp_issuer.clone(),
        })
    }

    /// Whether TOTP can be used here: only with a key to keep its secrets encrypted.
    pub fn totp_enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// The keys TOTP secrets are sealed with, if the server has one.
    pub fn keys(&self) -> Option<&Keys> {
        self.keys.as_ref()
    }

    /// The name authenticator apps show beside the account.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}
