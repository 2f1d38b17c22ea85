//! The per-instance session cache, and the watcher that keeps every instance's cache honest.
//!
//! A session check must cost close to nothing, yet ending a session must take effect at once.
//! Both hold because every change to what a user's sessions may do moves the user's security
//! epoch (see `sessions::end_sessions` and `sessions::bump_epoch`):
//! - on the instance that made the change, the user's entries are dropped before it answers;
//! - every instance polls for users whose epoch moved recently (one indexed query every
//!   `invalidation_poll`, 50 ms by default) and drops entries cached under an older epoch;
//! - when that poll fails, the database is unreachable: the cache is emptied and bypassed
//!   until a poll succeeds again, so nothing is ever served from a cache that cannot be
//!   invalidated;
//! - a new cache starts bypassed, and is used only once the watcher's first poll succeeded: a
//!   process that never runs the watcher (a host application that forgot spa-auth's background
//!   work) reads every session from the database, and so never serves an ended one.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use entity::{session, user};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

/// How far back each poll looks, beyond its previous run: covers transactions that commit a
/// little after they stamped the time, and clock skew between instances.
const OVERLAP_MS: i64 = 5_000;

struct Entry {
    session: session::Model,
    user: user::Model,
    fetched: Instant,
}

pub struct SessionCache {
    entries: RwLock<HashMap<Vec<u8>, Entry>>,
    /// False until the watcher's first successful poll, and while it cannot reach the database.
    usable: AtomicBool,
    ttl: Duration,
    max_entries: usize,
}

impl SessionCache {
    /// A `ttl` of zero disables caching. The cache is bypassed until [`watch`] first polls.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        SessionCache {
            entries: RwLock::new(HashMap::new()),
            usable: AtomicBool::new(false),
            ttl,
            max_entries,
        }
    }

    /// Whether the cache is in use: the watcher has polled successfully, and its last poll did.
    pub fn is_usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.usable.load(Ordering::Acquire)
    }

    /// The cached session and user for a token hash, if fresh.
    pub fn get(&self, token_hash: &[u8]) -> Option<(session::Model, user::Model)> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let e = entries.get(token_hash)?;
        (e.fetched.elapsed() < self.ttl).then(|| (e.session.clone(), e.user.clone()))
    }

    pub fn put(&self, token_hash: Vec<u8>, session: session::Model, user: user::Model) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            // A flood of distinct valid sessions must not grow memory without bound; starting
            // over is cheap, since every entry can be read again from the database.
            if entries.len() >= self.max_entries {
                entries.clear();
            }
            entries.insert(
                token_hash,
                Entry {
                    session,
                    user,
                    fetched: Instant::now(),
                },
            );
        }
    }

    pub fn forget(&self, token_hash: &[u8]) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(token_hash);
        }
    }

    /// Drops every entry of a user: called by this instance right after it changed the user.
    pub fn forget_user(&self, user_id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, e| e.user.id != user_id);
        }
    }

    /// Drops entries cached under an epoch other than the user's current one.
    fn forget_stale(&self, current: &HashMap<Uuid, i64>) {
        if current.is_empty() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, e| {
                current
                    .get(&e.user.id)
                    .is_none_or(|epoch| *epoch == e.user.security_epoch)
            });
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether the database answered the watcher's last poll; what `/healthz` reports, so that a
/// health check costs no database work of its own.
#[derive(Clone)]
pub struct DbHealth(Arc<AtomicBool>);

impl DbHealth {
    pub fn new(up: bool) -> Self {
        DbHealth(Arc::new(AtomicBool::new(up)))
    }
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    fn set(&self, up: bool) {
        self.0.store(up, Ordering::Release);
    }
}

async fn changed_since(db: &DatabaseConnection, since: i64) -> Result<Vec<(Uuid, i64)>, DbErr> {
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::SecurityEpoch)
        .filter(user::Column::EpochChangedAt.gt(since))
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await
}

/// How long after a change every instance polling every `poll` has dropped what it cached:
/// a poll already under way when the change committed may miss it, the next one cannot.
pub fn propagation_bound(poll: Duration) -> Duration {
    poll * 2 + Duration::from_millis(20)
}

/// Polls for users whose epoch moved, forever. See the module documentation.
pub async fn watch(
    db: DatabaseConnection,
    cache: Arc<SessionCache>,
    health: DbHealth,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut since = Utc::now().timestamp_millis() - OVERLAP_MS;
    loop {
        tick.tick().await;
        let started = Utc::now().timestamp_millis();
        let mut changed = changed_since(&db, since).await;
        if changed.is_err() {
            // One broken pooled connection (left over from a restart, say) is not an outage:
            // the pool drops it, and a second try on a fresh one decides.
            changed = changed_since(&db, since).await;
        }
        match changed {
            Ok(rows) => {
                if !cache.usable.swap(true, Ordering::AcqRel) {
                    tracing::info!("invalidation poll answered; session cache in use");
                }
                cache.forget_stale(&rows.into_iter().collect());
                if !health.is_up() {
                    health.set(true);
                }
                since = started - OVERLAP_MS;
            }
            Err(e) => {
                let outage = crate::database::is_outage(&e);
                if cache.usable.swap(false, Ordering::AcqRel) {
                    match outage {
                        true => {
                            tracing::warn!(error = %e, "database unreachable; session cache emptied and bypassed")
                        }
                        false => {
                            tracing::error!(error = %e, "invalidation poll failed; session cache emptied and bypassed")
                        }
                    }
                }
                cache.clear();
                // A poll the database answered with a refusal (a fault of ours, not an outage)
                // shows it reachable: API calls must not all become 503s. The cache stays
                // bypassed all the same, since it cannot be kept honest.
                health.set(!outage);
            }
        }
    }
}
