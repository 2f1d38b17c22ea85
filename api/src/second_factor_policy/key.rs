//! The server's secret key for data at rest (TOTP secrets): ChaCha20-Poly1305 with a random
//! nonce per encryption, bound to the row's user so that a ciphertext copied to another user
//! does not decrypt.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use uuid::Uuid;

const NONCE_LEN: usize = 12;

/// 32 bytes from `SPA_AUTH_SECRET_KEY` (base64). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the secret key is not valid base64")]
    NotBase64,
    #[error(
        "the secret key must be 32 bytes (base64 of 32 random bytes: `openssl rand -base64 32`), it has {0}"
    )]
    WrongLength(usize),
}

impl SecretKey {
    /// Parses base64 of exactly 32 bytes: a shorter key would be a weaker one, and a typo must
    /// refuse the start rather than encrypt with something nobody can reproduce.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(SecretKey(bytes))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the operating system's random generator failed: {0}")]
    Random(#[from] getrandom::Error),
    #[error("encryption failed")]
    Encrypt,
    /// Neither key opens it: a wrong or rotated-away key, or a damaged row.
    #[error("the stored secret does not decrypt with the configured key(s)")]
    Decrypt,
}

/// The keys in force: the current one encrypts; the previous one, during a rotation, still
/// decrypts (and what it opened is re-encrypted with the current one on use).
#[derive(Clone, Debug)]
pub struct Keys {
    pub current: SecretKey,
    pub previous: Option<SecretKey>,
}

/// A secret opened, and whether it was sealed with the previous key (so should be re-sealed).
pub struct Opened {
    pub plain: Vec<u8>,
    pub stale: bool,
}

impl Keys {
    /// `nonce || ciphertext+tag`, with the user's id as associated data.
    pub fn seal(&self, user_id: Uuid, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        let sealed = self
            .current
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: user_id.as_bytes(),
                },
            )
            .map_err(|_| SealError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, user_id: Uuid, sealed: &[u8]) -> Result<Opened, SealError> {
        let open_with = |key: &SecretKey| -> Option<Vec<u8>> {
            let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
            let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
            key.cipher()
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: body,
                        aad: user_id.as_bytes(),
                    },
                )
                .ok()
        };
        if let Some(plain) = open_with(&self.current) {
            return Ok(Opened {
                plain,
                stale: false,
            });
        }
        match self.previous.as_ref().and_then(open_with) {
            Some(plain) => Ok(Opened { plain, stale: true }),
            None => Err(SealError::Decrypt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey([byte; 32])
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let keys = Keys {
            current: key(1),
            previous: None,
        };
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = keys.seal(alice, b"secret").expect("sealed");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(keys.open(alice, &sealed).expect("opens").plain, b"secret");
        assert!(keys.open(bob, &sealed).is_err(), "bound to its user");
        let other = Keys {
            current: key(2),
            previous: None,
        };
        assert!(other.open(alice, &sealed).is_err(), "another key");
        let rotated = Keys {
            current: key(2),
            previous: Some(key(1)),
        };
        let opened = rotated
            .open(alice, &sealed)
            .expect("the previous key opens it");
        assert!(opened.stale);
    }

    #[test]
    fn keys_must_be_base64_of_32_bytes() {
        assert!(SecretKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert_eq!(
            SecretKey::parse(&STANDARD.encode([7u8; 16])),
            Err(KeyError::WrongLength(16))
        );
        assert_eq!(SecretKey::parse("not base64!"), Err(KeyError::NotBase64));
    }
}
