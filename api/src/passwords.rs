//! Password hashing (argon2id, off the async runtime, a bounded number at once) and the rules
//! a new password must meet.

use std::{
    collections::HashSet,
    fmt,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use argon2::{Params, PasswordHash, Version};
use tokio::sync::Semaphore;

use crate::{
    config::{ConfigError, PasswordSettings},
    django::hashers::{is_django_format, verify as verify_django},
    errors::ApiError,
    hash_pool::{self, HashPool, Scratch},
};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

/// A password in memory. Its `Debug` is redacted so that it cannot reach a log by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordRejected {
    #[error("password must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("password must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("password is too common")]
    TooCommon,
    #[error("password must not be the username")]
    SameAsUsername,
}

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// The rules for a new password (as Django's default validators, minus similarity to
/// every user attribute).
pub fn check_new_password(password: &str, username: &str) -> Result<(), PasswordRejected> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_LENGTH {
        return Err(PasswordRejected::TooLong);
    }
    let folded = password.trim().to_lowercase();
    if COMMON.contains(folded.as_str()) {
        return Err(PasswordRejected::TooCommon);
    }
    if folded == username.trim().to_lowercase() {
        return Err(PasswordRejected::SameAsUsername);
    }
    Ok(())
}

pub fn params(settings: &PasswordSettings) -> Result<Params, ConfigError> {
    Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|e| ConfigError::Argon2(e.to_string()))
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The hash was made with other parameters than the configured ones.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords. At most `concurrency` run at once, each on one of as many
/// hashing threads (see [`hash_pool`]); up to `queue` more wait, and past that callers get
/// [`ApiError::Busy`]. This bounds both CPU and memory (argon2 memory × concurrency) under a
/// login flood.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    slots: Semaphore,
    waiting: AtomicUsize,
    queue: usize,
    /// Verified against when the user does not exist or has no usable password, so that a
    /// failed login costs the same whatever the reason.
    dummy_hash: String,
    pool: HashPool,
}

impl Passwords {
    pub fn new(settings: &PasswordSettings) -> Result<Self, ConfigError> {
        let params = params(settings)?;
        let mut scratch = Scratch::default();
        let dummy_hash = hash_pool::hash(&params, b"spa-auth dummy password", &mut scratch)
            .map_err(ConfigError::Argon2)?;
        let pool = HashPool::start(settings.concurrency(), &params)
            .map_err(|e| ConfigError::Argon2(format!("cannot start hashing threads: {e}")))?;
        Ok(Passwords {
            inner: Arc::new(Inner {
                params,
                slots: Semaphore::new(settings.concurrency()),
                waiting: AtomicUsize::new(0),
                queue: settings.hash_queue,
                dummy_hash,
                pool,
            }),
        })
    }

    /// Hashes jobs now waiting for a slot.
    pub fn queue_depth(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Whether a job would be taken now (a free slot, or room in the queue). Not a promise:
    /// logins use it to shed a flood before they spend database writes on it.
    pub fn has_room(&self) -> bool {
        self.inner.slots.available_permits() > 0
            || self.inner.waiting.load(Ordering::Relaxed) < self.inner.queue
    }

    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let password = password.clone();
        let params = self.inner.params.clone();
        self.run(move |scratch| {
            hash_pool::hash(&params, password.expose().as_bytes(), scratch)
                .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
        })
        .await?
    }

    /// Checks `password` against `stored`; with no stored hash it still does the same work.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<Verified, ApiError> {
        let password = password.clone();
        let params = self.inner.params.clone();
        let inner = self.inner.clone();
        let stored = stored.map(str::to_owned);
        self.run(move |scratch| {
            // A hash imported from Django: verified in this same slot (PBKDF2 at a million
            // iterations costs as much as argon2), and on success replaced by our own.
            if let Some(django_hash) = stored.as_deref().filter(|s| is_django_format(s)) {
                crate::metrics::METRICS.password_hash();
                let ok = match verify_django(password.expose().as_bytes(), django_hash) {
                    Ok(ok) => ok,
                    Err(e) => {
                        // The import stores only hashes that pass this check.
                        tracing::warn!("stored Django hash unusable: {e}");
                        false
                    }
                };
                return Verified {
                    ok,
                    needs_rehash: ok,
                };
            }
            let parsed = stored.as_deref().and_then(|s| PasswordHash::new(s).ok());
            match parsed {
                Some(hash) => {
                    let ok = hash_pool::verify(&hash, password.expose().as_bytes(), scratch);
                    Verified {
                        ok,
                        needs_rehash: ok && is_outdated(&hash, &params),
                    }
                }
                None => {
                    if let Ok(dummy) = PasswordHash::new(&inner.dummy_hash) {
                        hash_pool::verify(&dummy, password.expose().as_bytes(), scratch);
                    }
                    Verified {
                        ok: false,
                        needs_rehash: false,
                    }
                }
            }
        })
        .await
    }

    async fn run<T, F>(&self, job: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Scratch) -> T + Send + 'static,
        T: Send + 'static,
    {
        let inner = &self.inner;
        let permit = match inner.slots.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if inner.waiting.fetch_add(1, Ordering::AcqRel) >= inner.queue {
                    inner.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(ApiError::Busy { retry_after: 1 });
                }
                let acquired = inner.slots.acquire().await;
                inner.waiting.fetch_sub(1, Ordering::AcqRel);
                acquired.map_err(|_| ApiError::Internal("hash slots closed".into()))?
            }
        };
        let result = inner.pool.run(job).await;
        drop(permit);
        result.ok_or_else(|| ApiError::Internal("password hashing failed".into()))
    }
}

fn is_outdated(hash: &PasswordHash, params: &Params) -> bool {
    if hash.algorithm.as_str() != "argon2id" || hash.version != Some(Version::V0x13 as u32) {
        return true;
    }
    match Params::try_from(hash) {
        Ok(p) => {
            p.m_cost() != params.m_cost()
                || p.t_cost() != params.t_cost()
                || p.p_cost() != params.p_cost()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_say_why() {
        assert_eq!(
            check_new_password("short", "bob"),
            Err(PasswordRejected::TooShort)
        );
        assert_eq!(
            check_new_password(&"x".repeat(1025), "bob"),
            Err(PasswordRejected::TooLong)
        );
        assert_eq!(
            check_new_password("Password1", "bob"),
            Err(PasswordRejected::TooCommon)
        );
        assert_eq!(
            check_new_password("Bobby-Tables", "bobby-tables"),
            Err(PasswordRejected::SameAsUsername)
        );
        assert_eq!(check_new_password("correct horse battery", "bob"), Ok(()));
    }

    #[test]
    fn password_debug_is_redacted() {
        assert_eq!(format!("{:?}", Password::new("hunter22")), "Password(***)");
    }
}
