//! Session tokens: 32 random bytes, and the only form of them the database keeps.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// Length of a token as it travels in the cookie (base64url, no padding).
const TOKEN_CHARS: usize = 43;

/// The bytes of base64url: a table, as every request with a session checks its token's 43.
const URL_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// A session token as the client holds it. `Debug` is redacted: tokens never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Token(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts only strings of the shape we issue, so junk never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == TOKEN_CHARS && raw.bytes().all(|b| URL_SAFE[usize::from(b)]);
        well_formed.then(|| Token(raw.to_owned()))
    }

    /// What the database stores and looks up. A leaked table gives hashes, and a hash is not
    /// a cookie. Looking up by hash also means no comparison on the token itself whose timing
    /// could leak it.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_chars_and_unique() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert!(Token::parse(a.expose()).is_some());
        assert_ne!(a, b);
        assert_eq!(a.hash().len(), 32);
    }

    #[test]
    fn parse_refuses_other_shapes() {
        assert!(Token::parse("").is_none());
        assert!(Token::parse(&"a".repeat(44)).is_none());
        assert!(Token::parse(&format!("{}=", "a".repeat(42))).is_none());
    }

    #[test]
    fn parse_accepts_exactly_the_base64url_alphabet() {
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for c in (0..=0x7f_u8).map(char::from).chain(['\u{e9}', '\u{3b1}']) {
            let mut raw = "a".repeat(TOKEN_CHARS - 1 - (c.len_utf8() - 1));
            raw.insert(20, c);
            assert_eq!(raw.len(), TOKEN_CHARS);
            assert_eq!(Token::parse(&raw).is_some(), ALPHABET.contains(c), "{c:?}");
        }
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = Token::generate().unwrap();
        assert_eq!(format!("{t:?}"), "Token(***)");
    }
}
