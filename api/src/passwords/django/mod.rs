//! Verifying password hashes as Django stores them (`django.contrib.auth.hashers`), so that
//! users imported from Django log in with the passwords they have; the login path then
//! replaces the hash by spa-auth's own argon2id.
//!
//! Only verification: spa-auth never writes these formats. Supported, as Django 5.2 encodes
//! them:
//!
//! | hasher | encoded |
//! | --- | --- |
//! | `pbkdf2_sha256`, `pbkdf2_sha1` | `<algorithm>$<iterations>$<salt>$<base64 hash>` |
//! | `argon2` | `argon2` + argon2-cffi's PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) |
//! | `bcrypt_sha256` | `bcrypt_sha256$` + bcrypt of hex(sha256(password)) |
//! | `bcrypt` | `bcrypt$` + bcrypt of the password itself |
//! | `scrypt` | `scrypt$<N>$<salt>$<r>$<p>$<base64 hash>` |
//!
//! The salts of PBKDF2 and scrypt are used as the bytes of the salt text, as Django does; the
//! hashes are standard base64 with padding. Anything else (Django's `md5`, `unsalted_*`,
//! `crypt`, a custom hasher) is not recognised, and an import stores no usable password.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod parse;

use parse::{Parsed, parse};

/// Django's prefix of an unusable password (`set_unusable_password()`).
pub const UNUSABLE_PREFIX: &str = "!";

// Limits on the cost parameters a stored hash may ask for. Every check runs in the shared
// hashing slots, so a corrupt or hostile hash must not be able to hold one for minutes or
// allocate gigabytes; Django's defaults are far below these.
const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;
const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ARGON2_TIME: u32 = 64;
const MAX_BCRYPT_COST: u32 = 20;
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
const MAX_SCRYPT_PARALLELISM: u32 = 64;

/// The Django hashers spa-auth can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hasher {
    Pbkdf2Sha256,
    Pbkdf2Sha1,
    Argon2,
    BcryptSha256,
    Bcrypt,
    Scrypt,
}

impl Hasher {
    pub const ALL: [Hasher; 6] = [
        Hasher::Pbkdf2Sha256,
        Hasher::Pbkdf2Sha1,
        Hasher::Argon2,
        Hasher::BcryptSha256,
        Hasher::Bcrypt,
        Hasher::Scrypt,
    ];

    /// Django's `algorithm` name, the prefix of the encoded hash.
    pub fn name(self) -> &'static str {
        match self {
            Hasher::Pbkdf2Sha256 => "pbkdf2_sha256",
            Hasher::Pbkdf2Sha1 => "pbkdf2_sha1",
            Hasher::Argon2 => "argon2",
            Hasher::BcryptSha256 => "bcrypt_sha256",
            Hasher::Bcrypt => "bcrypt",
            Hasher::Scrypt => "scrypt",
        }
    }

    /// The `kind` label of the password-hash metric: which verifier did the work.
    pub fn metric_label(self) -> &'static str {
        match self {
            Hasher::Pbkdf2Sha256 => "django_pbkdf2_sha256",
            Hasher::Pbkdf2Sha1 => "django_pbkdf2_sha1",
            Hasher::Argon2 => "django_argon2",
            Hasher::BcryptSha256 => "django_bcrypt_sha256",
            Hasher::Bcrypt => "django_bcrypt",
            Hasher::Scrypt => "django_scrypt",
        }
    }

    fn from_name(name: &str) -> Option<Hasher> {
        Hasher::ALL.into_iter().find(|h| h.name() == name)
    }
}

/// Why a stored Django hash cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("no password")]
    Empty,
    #[error("unusable password (Django's set_unusable_password)")]
    Unusable,
    #[error("hasher {0:?} is not supported")]
    UnknownHasher(String),
    #[error("malformed {hasher} hash: {reason}")]
    Malformed {
        hasher: &'static str,
        reason: &'static str,
    },
    #[error("{hasher} hash asks for more work than allowed: {reason}")]
    TooCostly {
        hasher: &'static str,
        reason: &'static str,
    },
}

/// Whether `stored` looks like a Django hash (of a supported hasher) rather than spa-auth's
/// own PHC string, which always starts with `$`. Cheap; says nothing about validity.
pub fn is_django_format(stored: &str) -> bool {
    stored
        .split_once('$')
        .is_some_and(|(name, _)| Hasher::from_name(name).is_some())
}

/// Checks that `encoded` is a Django hash that [`verify`] can use, and names its hasher.
/// The import calls it so that a hash that could never verify is not stored as if usable.
pub fn check(encoded: &str) -> Result<Hasher, HashError> {
    parse(encoded).map(|(hasher, _)| hasher)
}

/// Checks `password` against a Django-encoded hash, comparing in constant time. As costly as
/// Django's own check: run it where hashing is bounded (`Passwords::verify`).
pub fn verify(password: &[u8], encoded: &str) -> Result<bool, HashError> {
    let (_, parsed) = parse(encoded)?;
    Ok(match parsed {
        Parsed::Pbkdf2 {
            sha1,
            iterations,
            salt,
            hash,
        } => {
            let mut out = vec![0u8; hash.len()];
            let salt = salt.as_bytes();
            match (sha1, pbkdf2::Params::new(iterations)) {
                // The non-generic entry point is compiled inside the pbkdf2 crate, which the
                // dev profile optimises, so debug builds and tests verify at full speed too.
                // It takes 1,000 iterations or more.
                (false, Ok(params)) => pbkdf2::pbkdf2_hmac_with_params(
                    password,
                    salt,
                    pbkdf2::Algorithm::Pbkdf2Sha256,
                    params,
                    &mut out,
                ),
                (false, Err(_)) => {
                    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
                }
                // Generic, so compiled in this crate: in a debug build it runs unoptimised
                // (seconds for a million iterations); release builds are unaffected.
                (true, _) => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            }
            bool::from(out.ct_eq(&hash))
        }
        // Algorithm (argon2id/i/d), version and parameters all come from the hash itself;
        // the crate compares the outputs in constant time.
        Parsed::Argon2(hash) => Argon2::default().verify_password(password, &*hash).is_ok(),
        Parsed::Bcrypt {
            prehash, bcrypt, ..
        } => {
            // Django's bcrypt_sha256 feeds bcrypt the lower-case hex of SHA-256, so that
            // passwords longer than bcrypt's 72 bytes are not truncated. The crate compares
            // in constant time (subtle).
            let result = if prehash {
                let hex = hex_lower(&Sha256::digest(password));
                bcrypt::verify(hex.as_bytes(), bcrypt)
            } else {
                // Plain bcrypt: hashes made before bcrypt refused long passwords were made
                // from the first 72 bytes, so verify the same way.
                bcrypt::verify(password, bcrypt)
            };
            result.unwrap_or(false)
        }
        Parsed::Scrypt { params, salt, hash } => {
            let mut out = vec![0u8; hash.len()];
            match scrypt::scrypt(password, salt.as_bytes(), &params, &mut out) {
                Ok(()) => bool::from(out.ct_eq(&hash)),
                Err(_) => false,
            }
        }
    })
}

/// The hasher of `encoded` and, as text, every parameter that sets how long one check takes
/// (`pbkdf2_sha256 iterations=1000000`, `bcrypt_sha256 cost=12`, ...): two hashes of one cost
/// class cost the same to check, whatever the password. Salts and hashes are left out.
pub fn cost_class(encoded: &str) -> Result<(Hasher, String), HashError> {
    let (hasher, parsed) = parse(encoded)?;
    let name = hasher.name();
    let class = match parsed {
        Parsed::Pbkdf2 { iterations, .. } => format!("{name} iterations={iterations}"),
        Parsed::Argon2(hash) => {
            let params = argon2::Params::try_from(&*hash).map_err(|_| HashError::Malformed {
                hasher: name,
                reason: "bad parameters",
            })?;
            format!(
                "{name} {} v={} m={},t={},p={}",
                hash.algorithm,
                hash.version.unwrap_or_default(),
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            )
        }
        Parsed::Bcrypt { cost, .. } => format!("{name} cost={cost}"),
        Parsed::Scrypt { params, .. } => {
            format!("{name} n={} r={} p={}", params.n(), params.r(), params.p())
        }
    };
    Ok((hasher, class))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with Django 5.2.19 (`make_password(pw, hasher=...)`, argon2-cffi 25.1, bcrypt
    // 5.0), at Django's default costs unless the name says otherwise.
    const PW: &str = "correct horse battery staple";
    const PW_UNICODE: &str = "pässwörd ✓ ünïcode";

    const PBKDF2_SHA256: &str =
        "pbkdf2_sha256$1000000$jEJEylAHChpdCfN7lLg6xX$coLinSGW9BXSByZ65GuOZbtXOVH56HLudcrulBgLO+k=";
    const PBKDF2_SHA256_UNICODE: &str =
        "pbkdf2_sha256$1000000$HjDiGuuacXUtHSVOqp1hBT$nOAsBHrS2sN5UGRd76ajkK87gVlhiMW4blRLtoiwZUI=";
    const PBKDF2_SHA256_1000: &str =
        "pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=";
    const PBKDF2_SHA1: &str =
        "pbkdf2_sha1$1000000$7K1O3WmsKiBBls1Dit5mCd$6fYwhuL0JqljEdErHU+zFrKLGjY=";
    // Few iterations: SHA-1 is not optimised in debug builds (see `verify`).
    const PBKDF2_SHA1_UNICODE_1000: &str = "pbkdf2_sha1$1000$seasalt$UDV204/1VEDx79etjh7LV8yOcIY=";
    // Below the 1,000 that pbkdf2's optimised entry point takes.
    const PBKDF2_SHA256_999: &str =
        "pbkdf2_sha256$999$seasalt$U4o4+1xS850y4p1Tb/lbrGiGxNk19NbDEwkLchAHsH0=";
    const ARGON2: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$cFY0MWttUm5POGQ5ckVBalZZWWd6WQ$OiWz7rEzmDI2DBY/d/QFZOere9oSnCmEzC5iemADP4k";
    const ARGON2_UNICODE: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$VXcxd1NZVUZETzFjTmhNdzRNcENJZg$R7yQE3GHQNoPZGhRmm61vg3/SCwkCrom2MmM/j4kQuA";
    const BCRYPT_SHA256: &str =
        "bcrypt_sha256$$2b$12$q6gcDoXp23Agy4obM2fB4OLPuV2LiTbq3wLyBcFtKGL55gL3pRl7e";
    const BCRYPT_SHA256_UNICODE: &str =
        "bcrypt_sha256$$2b$12$EAi4tKrdcWGz.jC02ilg9eeQOhlk3b9xYc.2xlMkR9WLWfCZha0Hu";
    const BCRYPT: &str = "bcrypt$$2b$12$XeUXT34tq90AxjGfnOIUb./RclzhSjoisIcDUD4pGwYJi8nHfB7iy";
    const BCRYPT_UNICODE: &str =
        "bcrypt$$2b$12$6p1pX2xYet5ZkamLykNNEOTdTL6tGjfGyqrHNhUimbdhpv1z3FapK";
    const SCRYPT: &str = "scrypt$16384$LpaNV2s3xUNqHGwbsdgdmW$8$5$Sl4NEhQs5RoVE35YuFdt4b0h/evFZflwUGzYjVpCNr+H1gkU5ikm9UVSnjnd1JOwHPRY2HmQ6kjfNm4mqN7tcw==";
    const SCRYPT_UNICODE: &str = "scrypt$16384$vv4Xhs5SsnfFxslypFtW85$8$5$2z8XdMRpOnd/nJelbl6P1CsTZkqdiaL/9khB+4V0xIzLcuXxHsnt/8KnYnaZv4ln56r2q9YWGj8iBtTXRfnZEw==";
    const SCRYPT_1024: &str = "scrypt$1024$seasalt$8$1$QMBRDuNq7pljC9V+clmpGo+/U//V5nQlsLBnaDD9vK5WG80UWev7M6KyTAM0hUJc1RssTgKy001SIjbeho4/iQ==";
    const MD5: &str = "md5$tclEAQcGAT0hjigC8yDcvT$c6b6c25f811312473cb3279ad1cd4243";

    fn right_and_wrong(encoded: &str, password: &str, hasher: Hasher) {
        assert_eq!(check(encoded), Ok(hasher), "{encoded}");
        assert!(is_django_format(encoded));
        assert_eq!(verify(password.as_bytes(), encoded), Ok(true), "{encoded}");
        let wrong = format!("{password}!");
        assert_eq!(verify(wrong.as_bytes(), encoded), Ok(false), "{encoded}");
    }

    #[test]
    fn pbkdf2_sha256() {
        right_and_wrong(PBKDF2_SHA256, PW, Hasher::Pbkdf2Sha256);
        right_and_wrong(PBKDF2_SHA256_UNICODE, PW_UNICODE, Hasher::Pbkdf2Sha256);
        right_and_wrong(PBKDF2_SHA256_1000, PW, Hasher::Pbkdf2Sha256);
        right_and_wrong(PBKDF2_SHA256_999, PW, Hasher::Pbkdf2Sha256);
    }

    #[test]
    fn pbkdf2_sha1() {
        right_and_wrong(PBKDF2_SHA1, PW, Hasher::Pbkdf2Sha1);
        right_and_wrong(PBKDF2_SHA1_UNICODE_1000, PW_UNICODE, Hasher::Pbkdf2Sha1);
    }

    #[test]
    fn argon2() {
        right_and_wrong(ARGON2, PW, Hasher::Argon2);
        right_and_wrong(ARGON2_UNICODE, PW_UNICODE, Hasher::Argon2);
    }

    #[test]
    fn bcrypt_sha256() {
        right_and_wrong(BCRYPT_SHA256, PW, Hasher::BcryptSha256);
        right_and_wrong(BCRYPT_SHA256_UNICODE, PW_UNICODE, Hasher::BcryptSha256);
        // The SHA-256 pre-hash is the point: bcrypt itself would accept the hex digest.
        let hex = hex_lower(&Sha256::digest(PW.as_bytes()));
        assert_eq!(verify(hex.as_bytes(), BCRYPT_SHA256), Ok(false));
    }

    #[test]
    fn bcrypt() {
        right_and_wrong(BCRYPT, PW, Hasher::Bcrypt);
        right_and_wrong(BCRYPT_UNICODE, PW_UNICODE, Hasher::Bcrypt);
    }

    #[test]
    fn scrypt() {
        right_and_wrong(SCRYPT, PW, Hasher::Scrypt);
        right_and_wrong(SCRYPT_UNICODE, PW_UNICODE, Hasher::Scrypt);
        right_and_wrong(SCRYPT_1024, PW, Hasher::Scrypt);
    }

    #[test]
    fn cost_classes_name_the_parameters_that_set_the_work_and_nothing_else() {
        let class = |encoded| cost_class(encoded).map(|(_, c)| c);
        assert_eq!(
            class(PBKDF2_SHA256).as_deref(),
            Ok("pbkdf2_sha256 iterations=1000000")
        );
        // Other salt and hash, same cost: the same class.
        assert_eq!(class(PBKDF2_SHA256), class(PBKDF2_SHA256_UNICODE));
        assert_ne!(class(PBKDF2_SHA256), class(PBKDF2_SHA256_1000));
        assert_eq!(
            class(ARGON2).as_deref(),
            Ok("argon2 argon2id v=19 m=102400,t=2,p=8")
        );
        assert_eq!(class(BCRYPT_SHA256).as_deref(), Ok("bcrypt_sha256 cost=12"));
        assert_eq!(class(BCRYPT).as_deref(), Ok("bcrypt cost=12"));
        assert_eq!(class(SCRYPT).as_deref(), Ok("scrypt n=16384 r=8 p=5"));
        assert_eq!(class(SCRYPT), class(SCRYPT_UNICODE));
        assert!(class(MD5).is_err());
    }

    #[test]
    fn unsupported_and_unusable_are_told_apart() {
        assert_eq!(check(""), Err(HashError::Empty));
        assert_eq!(
            check("!Xq0lJdVzP6cR8sdxgVMBMYd2yDjFDUWR3hnrYgd7"),
            Err(HashError::Unusable)
        );
        assert_eq!(check(MD5), Err(HashError::UnknownHasher("md5".into())));
        assert!(!is_django_format(MD5));
        assert_eq!(
            check("5f4dcc3b5aa765d61d8327deb882cf99"),
            Err(HashError::UnknownHasher("unsalted_md5".into()))
        );
        // spa-auth's own hashes are PHC strings starting with `$`.
        assert!(!is_django_format(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
        ));
    }

    #[test]
    fn malformed_and_costly_hashes_are_refused_before_any_work() {
        for bad in [
            "pbkdf2_sha256$abc$salt$aGFzaA==",
            "pbkdf2_sha256$0$salt$aGFzaA==",
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha256$1000$salt$not base64!",
            "pbkdf2_sha256$1000$salt$",
            "argon2$nonsense",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHQ",
            "argon2$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            "bcrypt_sha256$$2b$12$short",
            "scrypt$1000$salt$8$1$aGFzaA==",
            "scrypt$1024$salt$8$aGFzaA==",
        ] {
            assert!(
                matches!(check(bad), Err(HashError::Malformed { .. })),
                "{bad}: {:?}",
                check(bad)
            );
            assert!(verify(b"x", bad).is_err());
        }
        for costly in [
            "pbkdf2_sha256$4000000000$salt$aGFzaA==",
            "argon2$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            "bcrypt_sha256$$2b$31$q6gcDoXp23Agy4obM2fB4OLPuV2LiTbq3wLyBcFtKGL55gL3pRl7e",
            "scrypt$1073741824$salt$8$1$aGFzaA==",
        ] {
            assert!(
                matches!(check(costly), Err(HashError::TooCostly { .. })),
                "{costly}: {:?}",
                check(costly)
            );
        }
    }

    /// Prints how long one check of each default-cost hash takes. `cargo test -p spa-auth
    /// --release -- --ignored --nocapture timings`.
    #[test]
    #[ignore]
    fn timings() {
        for (name, encoded) in [
            ("pbkdf2_sha256 1,000,000", PBKDF2_SHA256),
            ("pbkdf2_sha1 1,000,000", PBKDF2_SHA1),
            ("argon2id m=100MiB t=2 p=8", ARGON2),
            ("bcrypt_sha256 cost 12", BCRYPT_SHA256),
            ("bcrypt cost 12", BCRYPT),
            ("scrypt N=2^14 r=8 p=5", SCRYPT),
        ] {
            let start = std::time::Instant::now();
            let runs = 3;
            for _ in 0..runs {
                assert_eq!(verify(PW.as_bytes(), encoded), Ok(true));
            }
            println!("{name}: {:?} per check", start.elapsed() / runs);
        }
    }
}
