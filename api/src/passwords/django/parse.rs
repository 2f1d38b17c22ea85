//! Taking a Django-encoded hash apart, every parameter checked against sane bounds before any
//! work is done with it (a hostile import must not make one login cost minutes).

use super::*;

/// A parsed Django hash, every parameter checked, ready to verify against.
#[derive(Debug, Clone)]
pub(super) enum Parsed<'a> {
    Pbkdf2 {
        sha1: bool,
        iterations: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
    Argon2(Box<PasswordHash>),
    /// `bcrypt_sha256` or `bcrypt`; `bcrypt` is the `$2b$...` string.
    Bcrypt {
        prehash: bool,
        bcrypt: &'a str,
        cost: u32,
    },
    Scrypt {
        params: scrypt::Params,
        salt: &'a str,
        hash: Vec<u8>,
    },
}

pub(super) fn parse(encoded: &str) -> Result<(Hasher, Parsed<'_>), HashError> {
    if encoded.is_empty() {
        return Err(HashError::Empty);
    }
    if encoded.starts_with(UNUSABLE_PREFIX) {
        return Err(HashError::Unusable);
    }
    let Some((name, rest)) = encoded.split_once('$') else {
        // Django's pre-1.0 unsalted MD5/SHA-1 hashes have no `$`; never supported here.
        return Err(HashError::UnknownHasher(describe_unknown(encoded)));
    };
    // The report shows the name of an unknown hasher; a few characters are enough, and a
    // garbled value must not put a long stretch of a hash on the screen.
    let hasher = Hasher::from_name(name)
        .ok_or_else(|| HashError::UnknownHasher(name.chars().take(24).collect()))?;
    let hname = hasher.name();
    let malformed = |reason| HashError::Malformed {
        hasher: hname,
        reason,
    };
    let costly = |reason| HashError::TooCostly {
        hasher: hname,
        reason,
    };
    let parsed = match hasher {
        Hasher::Pbkdf2Sha256 | Hasher::Pbkdf2Sha1 => {
            let mut parts = rest.splitn(3, '$');
            let (Some(iterations), Some(salt), Some(hash)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(malformed("expected <iterations>$<salt>$<hash>"));
            };
            let iterations: u32 = iterations
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(malformed("iterations is not a positive number"))?;
            if iterations > MAX_PBKDF2_ITERATIONS {
                return Err(costly("too many iterations"));
            }
            let hash = decode_b64(hash).ok_or(malformed("hash is not base64"))?;
            Parsed::Pbkdf2 {
                sha1: hasher == Hasher::Pbkdf2Sha1,
                iterations,
                salt,
                hash,
            }
        }
        Hasher::Argon2 => {
            // Django prepends `argon2` to argon2-cffi's own `$argon2id$...` string, whose salt
            // and hash are unpadded base64 as PHC wants.
            let phc = &encoded[name.len()..];
            let hash = PasswordHash::new(phc).map_err(|_| malformed("not a PHC string"))?;
            if !matches!(hash.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
                return Err(malformed("not an argon2 variant"));
            }
            let params =
                argon2::Params::try_from(&hash).map_err(|_| malformed("bad parameters"))?;
            if hash.salt.is_none() || hash.hash.is_none() {
                return Err(malformed("no salt or no hash"));
            }
            if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
                return Err(costly("memory above 1 GiB"));
            }
            if params.t_cost() > MAX_ARGON2_TIME {
                return Err(costly("too many passes"));
            }
            Parsed::Argon2(Box::new(with_version(hash)))
        }
        Hasher::BcryptSha256 | Hasher::Bcrypt => {
            // Django writes `<algorithm>$` + bcrypt's own `$2b$...`: hence the `$$`.
            let bcrypt = rest;
            let parts: bcrypt::HashParts = bcrypt
                .parse()
                .map_err(|_| malformed("not a $2b$ bcrypt string"))?;
            if parts.get_cost() > MAX_BCRYPT_COST {
                return Err(costly("cost above 20"));
            }
            Parsed::Bcrypt {
                prehash: hasher == Hasher::BcryptSha256,
                bcrypt,
                cost: parts.get_cost(),
            }
        }
        Hasher::Scrypt => {
            let parts: Vec<&str> = rest.split('$').collect();
            let &[n, salt, r, p, hash] = parts.as_slice() else {
                return Err(malformed("expected <N>$<salt>$<r>$<p>$<hash>"));
            };
            let n: u64 = n.parse().map_err(|_| malformed("N is not a number"))?;
            let r: u32 = r.parse().map_err(|_| malformed("r is not a number"))?;
            let p: u32 = p.parse().map_err(|_| malformed("p is not a number"))?;
            if !n.is_power_of_two() || n < 2 {
                return Err(malformed("N is not a power of two"));
            }
            if 128u64.saturating_mul(u64::from(r)).saturating_mul(n) > MAX_SCRYPT_MEMORY {
                return Err(costly("memory above 1 GiB"));
            }
            if p > MAX_SCRYPT_PARALLELISM {
                return Err(costly("parallelism above 64"));
            }
            // n is a power of two below 2^64, so its log fits in a u8.
            let log_n = n.trailing_zeros() as u8;
            let params =
                scrypt::Params::new(log_n, r, p).map_err(|_| malformed("bad parameters"))?;
            let hash = decode_b64(hash).ok_or(malformed("hash is not base64"))?;
            Parsed::Scrypt { params, salt, hash }
        }
    };
    Ok((hasher, parsed))
}

/// Standard padded base64 as Django writes it, and not empty: an empty expected output would
/// match anything.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(s)
        .ok()
        .filter(|b| !b.is_empty() && b.len() <= 1024)
}

/// Hashes from argon2-cffi before version 1.3 of Argon2 (`v=19`) carry no `v=`: they are
/// version 0x10. The argon2 crate would otherwise assume 0x13 and never match.
fn with_version(mut hash: PasswordHash) -> PasswordHash {
    if hash.version.is_none() {
        hash.version = Some(argon2::Version::V0x10 as u32);
    }
    hash
}

/// A short, safe description of an unrecognised hash for the report: never the hash itself.
pub(super) fn describe_unknown(encoded: &str) -> String {
    match encoded.len() {
        32 if encoded.bytes().all(|b| b.is_ascii_hexdigit()) => "unsalted_md5".into(),
        40 if encoded.bytes().all(|b| b.is_ascii_hexdigit()) => "unsalted_sha1".into(),
        n => format!("<unrecognised, {n} characters>"),
    }
}
