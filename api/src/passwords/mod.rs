//! Password hashing (argon2id, off the async runtime, a bounded number at once) and the rules
//! a new password must meet.

pub mod decoy;
pub mod django;
pub mod pool;
mod settings;

pub use settings::{PasswordSettings, SettingsError};

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

use self::{
    decoy::Decoys,
    django::{is_django_format, verify as verify_django},
    pool::{HashPool, Scratch},
};

/// Why a hash could not be computed. Neither says anything about the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot is taken and the queue is full: try again shortly.
    #[error("the service is busy; retry after {retry_after} seconds")]
    Busy { retry_after: u64 },
    #[error("password hashing failed: {0}")]
    Internal(String),
}

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
    include_str!("../../data/common-passwords.txt")
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

pub fn params(settings: &PasswordSettings) -> Result<Params, SettingsError> {
    Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|e| SettingsError::Argon2(e.to_string()))
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The hash was made with other parameters than the configured ones.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords. At most `concurrency` run at once, each on one of as many
/// hashing threads (see [`pool`]); up to `queue` more wait, and past that callers get
/// [`PasswordError::Busy`]. This bounds both CPU and memory (argon2 memory × concurrency) under a
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
    /// What a login without a usable stored hash verifies against, so that a failed login
    /// costs the same whatever the reason.
    decoys: Decoys,
    pool: HashPool,
}

impl Passwords {
    pub fn new(settings: &PasswordSettings) -> Result<Self, SettingsError> {
        let params = params(settings)?;
        let mut scratch = Scratch::default();
        let dummy_hash = pool::hash(&params, b"spa-auth dummy password", &mut scratch)
            .map_err(SettingsError::Argon2)?;
        let pool = HashPool::start(settings.concurrency(), &params)
            .map_err(|e| SettingsError::Argon2(format!("cannot start hashing threads: {e}")))?;
        Ok(Passwords {
            inner: Arc::new(Inner {
                params,
                slots: Semaphore::new(settings.concurrency()),
                waiting: AtomicUsize::new(0),
                queue: settings.hash_queue,
                decoys: Decoys::new(dummy_hash)
                    .map_err(|e| SettingsError::Argon2(format!("decoy: {e}")))?,
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

    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let password = password.clone();
        let params = self.inner.params.clone();
        self.run(move |scratch| {
            pool::hash(&params, password.expose().as_bytes(), scratch)
                .map_err(|e| PasswordError::Internal(format!("argon2: {e}")))
        })
        .await?
    }

    /// Checks `password` against `stored`, the hash of `username`'s account when it has a usable
    /// one. Without one (unknown name, inactive account, no password) it checks against the
    /// decoy for that name instead and fails: the same work a real account of the population
    /// would cost (see [`crate::passwords::decoy`]).
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
        username: &str,
    ) -> Result<Verified, PasswordError> {
        let password = password.clone();
        let params = self.inner.params.clone();
        // A hash that cannot be checked would cost nothing: such an account gets the decoy too.
        let (target, is_decoy) = match stored {
            Some(hash) if decoy::cost_class(hash).is_some() => (Arc::<str>::from(hash), false),
            Some(_) => {
                tracing::warn!("stored password hash unusable; checking the decoy instead");
                (self.inner.decoys.pick(username), true)
            }
            None => (self.inner.decoys.pick(username), true),
        };
        self.run(move |scratch| {
            let verified = check(&target, password.expose().as_bytes(), &params, scratch);
            match is_decoy {
                // The decoy may be another account's hash: whatever it says is a failure.
                true => Verified {
                    ok: false,
                    needs_rehash: false,
                },
                false => verified,
            }
        })
        .await
    }

    /// The summary of stored hashes that decoys imitate.
    pub fn decoys(&self) -> &Decoys {
        &self.inner.decoys
    }

    async fn run<T, F>(&self, job: F) -> Result<T, PasswordError>
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
                    return Err(PasswordError::Busy { retry_after: 1 });
                }
                let acquired = inner.slots.acquire().await;
                inner.waiting.fetch_sub(1, Ordering::AcqRel);
                acquired.map_err(|_| PasswordError::Internal("hash slots closed".into()))?
            }
        };
        let result = inner.pool.run(job).await;
        drop(permit);
        result.ok_or_else(|| PasswordError::Internal("password hashing failed".into()))
    }
}

/// One check of `password` against a stored hash, on a hashing thread.
fn check(stored: &str, password: &[u8], params: &Params, scratch: &mut Scratch) -> Verified {
    // A hash imported from Django: verified in this same slot, and on success replaced by our
    // own.
    if is_django_format(stored) {
        let ok = match django::check(stored) {
            Ok(hasher) => {
                crate::telemetry::metrics::METRICS.password_hash(hasher.metric_label());
                verify_django(password, stored).unwrap_or(false)
            }
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
    match PasswordHash::new(stored) {
        Ok(hash) => {
            let ok = pool::verify(&hash, password, scratch);
            Verified {
                ok,
                needs_rehash: ok && is_outdated(&hash, params),
            }
        }
        Err(_) => Verified {
            ok: false,
            needs_rehash: false,
        },
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
