//! The decoy a failed login verifies against when there is no stored hash to check (unknown
//! name, inactive account, no password), chosen so that its cost is not told apart from a real
//! account's.
//!
//! A real account's failed login costs what its stored hash costs: our argon2id, or until the
//! user first logs in, whatever Django hash was imported (PBKDF2 at a million iterations costs
//! five times our argon2id). A fixed dummy would therefore tell imported accounts from unknown
//! names. Instead the decoy imitates the population: the stored hashes of active accounts are
//! summarised by cost class (hasher and every parameter that sets the work), each class with
//! its count and one stored hash of that class, and every name is given one class, picked with
//! a keyed hash of the name and weighted by the counts. So:
//! - unknown names are spread over the classes exactly as real accounts are;
//! - one name always gets the same class, as one account always has the same hash, so
//!   repeating and averaging a measurement shows nothing a single one does not;
//! - the key is a secret shared by every instance (in the database), so nobody can compute
//!   which class a name would get and look for a mismatch, and a name costs the same on every
//!   instance, as a real account does;
//! - verifying a wrong password against a stored hash of a class costs exactly what that class
//!   costs; the outcome of a decoy check is always thrown away as a failure.
//!
//! Once every stored hash is our own argon2id at the configured parameters (all imported users
//! have logged in), the population is one class and the decoy is the dummy hash made at start,
//! exactly what it was before: no extra cost.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, RwLock},
    time::Duration,
};

use argon2::{Params, PasswordHash};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Statement};
use sha2::Sha256;
use uuid::Uuid;

use crate::{passwords::Passwords, passwords::django, users::username_key};

/// The key's name in `server_secret`.
const KEY_NAME: &str = "login_decoy_key";
/// Rows read per query while surveying, so that memory stays flat however many users remain
/// to be rehashed.
const PAGE: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum DecoyError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("cannot make the decoy key: {0}")]
    Random(String),
    #[error("the stored decoy key is unusable")]
    BadKey,
    #[error("the dummy hash has no cost class")]
    BadDummy,
}

/// What sets the cost of checking a stored hash: hasher and parameters, no salt, no hash
/// (`argon2id v=19 m=19456,t=2,p=1`, `django pbkdf2_sha256 iterations=1000000`, ...). `None`
/// when the hash cannot be checked at all; such an account gets the decoy.
pub fn cost_class(stored: &str) -> Option<String> {
    if django::is_django_format(stored) {
        return django::cost_class(stored)
            .ok()
            .map(|(_, class)| format!("django {class}"));
    }
    let hash = PasswordHash::new(stored).ok()?;
    let params = Params::try_from(&hash).ok()?;
    hash.salt?;
    hash.hash?;
    Some(format!(
        "{} v={} m={},t={},p={}",
        hash.algorithm,
        hash.version.unwrap_or(0x10),
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    ))
}

/// One cost class of the stored hashes of active accounts.
#[derive(Clone)]
pub struct Kind {
    pub class: String,
    /// Active accounts whose stored hash is of this class.
    pub count: u64,
    /// A stored hash of this class (for our current argon2id, the dummy made at start).
    sample: Arc<str>,
}

/// Without the sample: it is a password hash and must not reach a log.
impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kind")
            .field("class", &self.class)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// The stored hashes of active accounts, by cost class, in the order of their names.
#[derive(Debug, Clone, Default)]
pub struct Population {
    kinds: Vec<Kind>,
}

impl Population {
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }
}

/// The current population and the key, read by every login without a usable hash.
pub struct Decoys {
    population: RwLock<Arc<Population>>,
    key: RwLock<Hmac<Sha256>>,
    /// Our own argon2id at the configured parameters, made at start.
    dummy: Arc<str>,
    dummy_class: String,
    /// `$argon2id$v=19$m=..,t=..,p=..$`: what every hash of the dummy's class starts with, so
    /// that the survey leaves them in the database and only counts them.
    dummy_prefix: String,
}

impl Decoys {
    /// Until [`Decoys::load`] runs, the key is random to this process and the population
    /// empty (every decoy is the dummy).
    pub fn new(dummy: String) -> Result<Decoys, DecoyError> {
        let dummy_class = cost_class(&dummy).ok_or(DecoyError::BadDummy)?;
        let prefix_len = dummy
            .match_indices('$')
            .nth(3)
            .map(|(i, _)| i + 1)
            .ok_or(DecoyError::BadDummy)?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| DecoyError::Random(e.to_string()))?;
        Ok(Decoys {
            population: RwLock::new(Arc::default()),
            key: RwLock::new(mac(&key)?),
            dummy_prefix: dummy[..prefix_len].to_owned(),
            dummy: dummy.into(),
            dummy_class,
        })
    }

    /// Takes the shared key from the database (making it if this is the first instance) and
    /// surveys the stored hashes.
    pub async fn load(&self, db: &DatabaseConnection) -> Result<(), DecoyError> {
        let key = shared_key(db).await?;
        if let Ok(mut k) = self.key.write() {
            *k = mac(&key)?;
        }
        self.refresh(db).await?;
        Ok(())
    }

    /// Surveys the stored hashes again.
    pub async fn refresh(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let started = std::time::Instant::now();
        let population = self.survey(db).await?;
        tracing::debug!(
            took_ms = started.elapsed().as_millis(),
            classes = population.kinds.len(),
            "surveyed the stored password hashes"
        );
        if let Ok(mut p) = self.population.write() {
            *p = Arc::new(population);
        }
        Ok(())
    }

    /// The population as last surveyed.
    pub fn population(&self) -> Arc<Population> {
        self.population
            .read()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// The hash a login for `username` without a usable stored hash is checked against.
    pub fn pick(&self, username: &str) -> Arc<str> {
        let population = self.population();
        let kinds = population.kinds();
        if kinds.len() <= 1 {
            return kinds
                .first()
                .map_or(self.dummy.clone(), |k| k.sample.clone());
        }
        let Ok(key) = self.key.read().map(|k| k.clone()) else {
            return self.dummy.clone();
        };
        let name = username_key(username);
        // Weighted rendezvous hashing: each class draws an exponential variable of rate
        // `count` from the keyed hash of (class, name), and the smallest wins, which happens
        // with probability count / total. Unlike walking cumulative counts, when counts change
        // (users log in and are rehashed) a name only moves to a class whose share grew
        // relative to its own, never between two classes that both kept their share, so a
        // name's cost changes about as rarely as a real account's does.
        kinds
            .iter()
            .map(|kind| {
                let mut mac = key.clone();
                mac.update(kind.class.as_bytes());
                mac.update(&[0]);
                mac.update(name.as_bytes());
                let digest = mac.finalize().into_bytes();
                let mut first = [0u8; 8];
                first.copy_from_slice(&digest[..8]);
                // 53 random bits as a number strictly between 0 and 1.
                let u = ((u64::from_be_bytes(first) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                (-u.ln() / kind.count as f64, kind)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(self.dummy.clone(), |(_, kind)| kind.sample.clone())
    }

    /// Counts the hashes of active accounts by cost class. Our current argon2id (after the
    /// migration from Django, nearly everyone) is only counted by the database; the others
    /// (imported, outdated) are read a page at a time, since their classes are in the text.
    async fn survey(&self, db: &DatabaseConnection) -> Result<Population, DbErr> {
        let backend = db.get_database_backend();
        // The length is our own number, so it is written into the SQL; the prefix is bound.
        let len = self.dummy_prefix.len();
        let count = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT COUNT(*) AS n FROM users \
                     WHERE is_active = $1 AND substr(password_hash, 1, {len}) = $2"
                ),
                [true.into(), self.dummy_prefix.clone().into()],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        let mut classes: BTreeMap<String, (u64, Arc<str>)> = BTreeMap::new();
        if count > 0 {
            let n = u64::try_from(count).unwrap_or(0);
            classes.insert(self.dummy_class.clone(), (n, self.dummy.clone()));
        }
        let mut after = Uuid::nil();
        loop {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT id, password_hash FROM users \
                         WHERE is_active = $1 AND password_hash IS NOT NULL \
                         AND substr(password_hash, 1, {len}) <> $2 AND id > $3 \
                         ORDER BY id LIMIT {PAGE}"
                    ),
                    [true.into(), self.dummy_prefix.clone().into(), after.into()],
                ))
                .await?;
            for row in &rows {
                after = row.try_get::<Uuid>("", "id")?;
                let stored: String = row.try_get("", "password_hash")?;
                if let Some(class) = cost_class(&stored) {
                    classes.entry(class).or_insert_with(|| (0, stored.into())).0 += 1;
                }
            }
            if rows.len() < PAGE {
                break;
            }
        }
        Ok(Population {
            kinds: classes
                .into_iter()
                .map(|(class, (count, sample))| Kind {
                    class,
                    count,
                    sample,
                })
                .collect(),
        })
    }
}

fn mac(key: &[u8]) -> Result<Hmac<Sha256>, DecoyError> {
    Hmac::<Sha256>::new_from_slice(key).map_err(|_| DecoyError::BadKey)
}

/// The decoy key every instance uses: 32 random bytes, written by whichever instance comes
/// first (insert-if-absent, so instances starting together agree), then read back.
async fn shared_key(db: &DatabaseConnection) -> Result<Vec<u8>, DecoyError> {
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| DecoyError::Random(e.to_string()))?;
    // Same SQL on SQLite (3.24+) and PostgreSQL.
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO server_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        [KEY_NAME.into(), fresh.to_vec().into()],
    ))
    .await?;
    let stored = entity::server_secret::Entity::find_by_id(KEY_NAME.to_owned())
        .one(db)
        .await?
        .ok_or(DecoyError::BadKey)?;
    if stored.value.len() < 16 {
        return Err(DecoyError::BadKey);
    }
    Ok(stored.value)
}

/// Surveys the stored hashes every `every` (the first survey is done at start).
pub async fn refresh_loop(db: DatabaseConnection, passwords: Passwords, every: Duration) {
    // tokio's interval refuses a zero period.
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = passwords.decoys().refresh(&db).await {
            // The last survey stays in use; it only drifts as users are rehashed.
            tracing::warn!(error = %e, "surveying the stored password hashes failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_classes_of_our_own_hashes_leave_out_salt_and_hash() {
        let a = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let b = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNo";
        assert_eq!(
            cost_class(a).as_deref(),
            Some("argon2id v=19 m=19456,t=2,p=1")
        );
        assert_eq!(cost_class(a), cost_class(b));
        assert_eq!(
            cost_class("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").as_deref(),
            Some("argon2id v=19 m=8,t=1,p=1")
        );
        assert_eq!(
            cost_class("pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=")
                .as_deref(),
            Some("django pbkdf2_sha256 iterations=1000")
        );
        assert_eq!(cost_class("not a hash"), None);
        assert_eq!(cost_class(""), None);
    }

    fn kind(class: &str, count: u64) -> Kind {
        Kind {
            class: class.into(),
            count,
            sample: class.into(),
        }
    }

    fn decoys(kinds: Vec<Kind>) -> Decoys {
        let dummy = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let d = Decoys::new(dummy.into()).unwrap();
        *d.population.write().unwrap() = Arc::new(Population { kinds });
        d
    }

    #[test]
    fn names_are_spread_over_the_classes_as_the_accounts_are_and_keep_theirs() {
        let d = decoys(vec![kind("a", 700), kind("b", 200), kind("c", 100)]);
        let mut seen: BTreeMap<Arc<str>, u32> = BTreeMap::new();
        for i in 0..10_000 {
            let name = format!("user{i}");
            let picked = d.pick(&name);
            assert_eq!(
                picked,
                d.pick(&name.to_uppercase()),
                "one account, one cost"
            );
            *seen.entry(picked).or_default() += 1;
        }
        let share = |c: &str| f64::from(seen.get(c).copied().unwrap_or(0)) / 10_000.0;
        assert!((share("a") - 0.7).abs() < 0.03, "{seen:?}");
        assert!((share("b") - 0.2).abs() < 0.03, "{seen:?}");
        assert!((share("c") - 0.1).abs() < 0.03, "{seen:?}");
    }

    #[test]
    fn a_name_leaves_a_class_only_for_one_that_gained_on_it() {
        // As imported users (b, c) log in, they move to our own class (a). Names should only
        // follow them to `a`, never swap between `b` and `c`, whose shares fell alike.
        let before = decoys(vec![kind("a", 100), kind("b", 400), kind("c", 400)]);
        let after = decoys(vec![kind("a", 500), kind("b", 200), kind("c", 200)]);
        *after.key.write().unwrap() = before.key.read().unwrap().clone();
        let mut moved = 0;
        for i in 0..5_000 {
            let name = format!("user{i}");
            let (was, is) = (before.pick(&name), after.pick(&name));
            if was != is {
                assert_eq!(&*is, "a", "{name} moved from {was} to {is}");
                moved += 1;
            }
        }
        assert!(moved > 1_000, "{moved}");
    }

    #[test]
    fn with_one_class_or_none_the_decoy_is_that_class_or_the_dummy() {
        let none = decoys(vec![]);
        assert_eq!(none.pick("x"), none.dummy);
        let one = decoys(vec![kind("django pbkdf2_sha256 iterations=1000000", 3)]);
        assert_eq!(&*one.pick("x"), "django pbkdf2_sha256 iterations=1000000");
    }
}
