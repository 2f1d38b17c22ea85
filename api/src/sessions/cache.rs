//! The per-instance session cache, and the watcher that keeps every instance's cache honest.
//!
//! A session check must cost close to nothing, yet ending a session must take effect at once.
//! Both hold because every change to what a user's sessions may do moves the user's security
//! epoch (see `sessions::end_sessions` and `sessions::bump_epoch`):
//! - on the instance that made the change, the user's entries are dropped before it answers,
//!   and it answers only once every other live instance has dropped them (`registry`);
//! - on PostgreSQL the change is pushed (`listener`) and every instance drops the user's older
//!   entries as it arrives;
//! - every instance polls for users whose epoch moved recently (one indexed query every
//!   `invalidation_poll`, 50 ms by default, or every `invalidation_safety_poll` while changes
//!   are pushed) and drops entries cached under an older epoch;
//! - when that poll fails, the database is unreachable: the cache is emptied and bypassed
//!   until a poll succeeds again, so nothing is ever served from a cache that cannot be
//!   invalidated; a lost listening connection does the same, until it listens again and a
//!   poll made since has caught up with what it missed;
//! - a new cache starts bypassed, and is used only once the watcher's first poll succeeded: a
//!   process that never runs the watcher (a host application that forgot spa-auth's background
//!   work) reads every session from the database, and so never serves an ended one.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
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

/// Shared, not copied, with each request that reads it: a cached `/api/me` used to clone
/// ten strings out of it.
struct Entry {
    session: Arc<session::Model>,
    user: Arc<user::Model>,
    fetched: Instant,
}

/// How long this instance remembers the latest epoch it learnt of a user, so that a session
/// read from the database just before a change cannot be cached after the change was applied.
const REMEMBER_EPOCHS: Duration = Duration::from_secs(60);

/// What the write paths share, behind one lock the read path never takes.
#[derive(Default)]
struct Index {
    /// The newest epoch of each recently changed user, and when it was learnt.
    latest: HashMap<Uuid, (i64, Instant)>,
    /// The keys each user has had cached, so that dropping a user's entries touches only
    /// theirs. May name keys the cache has evicted since (removing those is a no-op); swept
    /// when it grows past twice the cache's bound.
    keys: HashMap<Uuid, Vec<Vec<u8>>>,
    /// How many keys `keys` holds.
    indexed: usize,
}

/// The per-instance cache of sessions, keyed by token hash.
///
/// Entries live in [`quick_cache`]'s sharded concurrent cache (CLOCK-PRO eviction): `/api/me`
/// reads it on every request, and a read takes one shard's read lock, so readers on other
/// shards never meet and no reader waits for a writer elsewhere. When full, it evicts the
/// coldest entries one at a time. Everything that writes (caching an entry, applying an epoch,
/// dropping a user's entries) goes through one small mutex over [`Index`], so that caching an
/// entry read before a change and applying that change can never interleave; those run after a
/// database read or a change, never on the cached path.
pub struct SessionCache {
    entries: quick_cache::sync::Cache<Vec<u8>, Arc<Entry>>,
    index: Mutex<Index>,
    /// False until the watcher's first successful poll, and while it cannot reach the database
    /// or has lost its listening connection.
    usable: AtomicBool,
    ttl: Duration,
    max_entries: usize,
    /// This process's name in the instance registry (`sessions::registry`).
    instance_id: Uuid,
}

impl SessionCache {
    /// A `ttl` of zero disables caching. The cache is bypassed until [`watch`] first polls.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        SessionCache {
            entries: quick_cache::sync::Cache::new(max_entries),
            index: Mutex::new(Index::default()),
            usable: AtomicBool::new(false),
            ttl,
            max_entries,
            instance_id: Uuid::new_v4(),
        }
    }

    /// Whether the cache is in use: the watcher has polled successfully, and its last poll did.
    pub fn is_usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    /// This instance's id in the registry of instances.
    pub fn instance_id(&self) -> Uuid {
        self.instance_id
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.usable.load(Ordering::Acquire)
    }

    /// The cached session and user for a token hash, if fresh.
    pub fn get(&self, token_hash: &[u8]) -> Option<(Arc<session::Model>, Arc<user::Model>)> {
        if !self.enabled() {
            return None;
        }
        let e = self.entries.get(token_hash)?;
        (e.fetched.elapsed() < self.ttl).then(|| (e.session.clone(), e.user.clone()))
    }

    pub fn put(&self, token_hash: Vec<u8>, session: Arc<session::Model>, user: Arc<user::Model>) {
        if !self.enabled() {
            return;
        }
        let Ok(mut index) = self.index.lock() else {
            return;
        };
        // Again under the lock: `turn_off` empties the cache under it.
        if !self.enabled() {
            return;
        }
        // Read from the database before a change this instance has applied since: caching
        // it now would bring back what the change dropped.
        if let Some((latest, _)) = index.latest.get(&user.id)
            && *latest > user.security_epoch
        {
            return;
        }
        let keys = index.keys.entry(user.id).or_default();
        if !keys.contains(&token_hash) {
            keys.push(token_hash.clone());
            index.indexed += 1;
        }
        self.entries.insert(
            token_hash,
            Arc::new(Entry {
                session,
                user,
                fetched: Instant::now(),
            }),
        );
        if index.indexed > 2 * self.max_entries {
            self.sweep(&mut index);
        }
    }

    /// Forgets the keys the cache has evicted meanwhile: the index stays within a small
    /// multiple of the cache, and each sweep pays for the many puts before it.
    fn sweep(&self, index: &mut Index) {
        let entries = &self.entries;
        index.keys.retain(|_, keys| {
            keys.retain(|k| entries.contains_key(k));
            !keys.is_empty()
        });
        index.indexed = index.keys.values().map(Vec::len).sum();
    }

    pub fn forget(&self, token_hash: &[u8]) {
        self.entries.remove(token_hash);
    }

    /// Drops every entry of a user: called by this instance right after it changed the user.
    pub fn forget_user(&self, user_id: Uuid) {
        if let Ok(mut index) = self.index.lock()
            && let Some(keys) = index.keys.remove(&user_id)
        {
            index.indexed -= keys.len();
            for k in keys {
                self.entries.remove(&k);
            }
        }
    }

    /// Applies users' new epochs: drops every entry cached under an older one, and refuses
    /// such entries from now on. Touches only the entries of the users that changed.
    pub fn apply(&self, changes: &[(Uuid, i64)]) {
        if changes.is_empty() {
            return;
        }
        let Ok(mut index) = self.index.lock() else {
            return;
        };
        let now = Instant::now();
        for &(user_id, epoch) in changes {
            let known = index.latest.get(&user_id).map(|(e, _)| *e);
            if known.is_some_and(|known| known >= epoch) {
                continue;
            }
            index.latest.insert(user_id, (epoch, now));
            let Some(mut keys) = index.keys.remove(&user_id) else {
                continue;
            };
            let before = keys.len();
            keys.retain(|k| {
                self.entries
                    .remove_if(k, |e| e.user.security_epoch < epoch)
                    .is_none()
                    && self.entries.contains_key(k)
            });
            index.indexed -= before - keys.len();
            if !keys.is_empty() {
                index.keys.insert(user_id, keys);
            }
        }
        if index.latest.len() > 1_000 {
            index
                .latest
                .retain(|_, (_, learnt)| learnt.elapsed() < REMEMBER_EPOCHS);
        }
    }

    /// Turns the cache off (emptied and bypassed); returns whether it was on.
    pub(super) fn turn_off(&self) -> bool {
        let was = self.usable.swap(false, Ordering::AcqRel);
        if let Ok(mut index) = self.index.lock() {
            self.entries.clear();
            index.keys.clear();
            index.indexed = 0;
        }
        was
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether the database answered the watcher's last poll, and whether the watcher runs at
/// all; what `/healthz` and `/readyz` report, so that a probe costs no database work of its
/// own.
#[derive(Clone)]
pub struct DbHealth(Arc<HealthFlags>);

struct HealthFlags {
    up: AtomicBool,
    watching: AtomicBool,
}

impl DbHealth {
    pub fn new(up: bool) -> Self {
        DbHealth(Arc::new(HealthFlags {
            up: AtomicBool::new(up),
            watching: AtomicBool::new(false),
        }))
    }
    pub fn is_up(&self) -> bool {
        self.0.up.load(Ordering::Acquire)
    }
    fn set(&self, up: bool) {
        self.0.up.store(up, Ordering::Release);
    }
    /// Whether the cache watcher has polled once and is still running: false before, and
    /// once its task ended (aborted, panicked) or was never spawned by a host application.
    pub fn is_watching(&self) -> bool {
        self.0.watching.load(Ordering::Acquire)
    }
}

/// Marks the watcher as running from its first poll until its future is dropped, however
/// that happens: aborted at shutdown, or unwound by a panic.
struct Watching(DbHealth);

impl Watching {
    fn start(&self) {
        self.0.0.watching.store(true, Ordering::Release);
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.0.watching.store(false, Ordering::Release);
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

/// How the watcher learns of changes made elsewhere.
#[derive(Clone, Copy, Debug)]
pub struct WatchSettings {
    /// Poll interval when changes are not pushed: push off, or its connection down.
    pub poll: Duration,
    /// Poll interval while changes are pushed: the safety net.
    pub safety_poll: Duration,
    /// Listen for pushed changes (PostgreSQL only).
    pub push: bool,
}

impl WatchSettings {
    /// Polling only, every `poll`.
    pub fn polling(poll: Duration) -> Self {
        WatchSettings {
            poll,
            safety_poll: poll,
            push: false,
        }
    }
}

/// Keeps the cache honest, forever. See the module documentation.
///
/// With push on, the cache is in use only while the listening connection is up *and* a poll
/// made after it started listening has succeeded: a change missed while it was down is found
/// by that catch-up poll, and anything cached before the loss was dropped with it.
pub async fn watch(
    db: DatabaseConnection,
    cache: Arc<SessionCache>,
    health: DbHealth,
    settings: WatchSettings,
) {
    let mut pushed = match settings.push {
        true => Some(super::listener::spawn(&db, cache.clone())),
        false => None,
    };
    // Polling alone keeps the cache honest when nothing is pushed.
    let mut listening = pushed.is_none();
    let mut registry = super::registry::Reporter::new(cache.instance_id());
    let mut since = Utc::now().timestamp_millis() - OVERLAP_MS;
    let mut next_poll = tokio::time::Instant::now();
    let watching = Watching(health.clone());
    loop {
        let event = tokio::select! {
            event = next_event(&mut pushed) => Some(event),
            _ = tokio::time::sleep_until(next_poll) => None,
        };
        match event {
            Some(Event::Listening) => {
                listening = true;
                // The catch-up poll, at once: it alone can turn the cache back on.
                next_poll = tokio::time::Instant::now();
            }
            Some(Event::Changed(first)) => {
                // Already applied to the cache by the listening task; acknowledged here in
                // one write for all that arrived meanwhile.
                let mut changes = vec![first];
                if let Some(p) = pushed.as_mut() {
                    changes.extend(p.drain_changes());
                }
                registry.acknowledge(&db, &changes).await;
            }
            Some(Event::Lost { why, was_on }) => {
                listening = false;
                // Turned off (and emptied) by the listening task already.
                if was_on || cache.turn_off() {
                    tracing::warn!(error = %why, "invalidation listener lost; session cache emptied and bypassed until it is back");
                }
                registry.report(&db, false).await;
            }
            None => {
                let ok = poll(&db, &cache, &health, &mut registry, &mut since, listening).await;
                watching.start();
                // The listening connection may have been lost while the poll ran: its task
                // turned the cache off before this poll turned it on again.
                if ok && listening && pushed.as_ref().is_some_and(|p| !p.connected()) {
                    cache.turn_off();
                }
                let period = match (ok, listening && pushed.is_some()) {
                    (true, true) => settings.safety_poll,
                    _ => settings.poll,
                };
                next_poll = tokio::time::Instant::now() + period;
            }
        }
        registry.heartbeat(&db, cache.enabled()).await;
    }
}

/// What the listening connection reports to the watcher.
pub(super) enum Event {
    /// `LISTEN` is in place: every change from now on will be pushed.
    Listening,
    /// A change, already applied to the cache.
    Changed((Uuid, i64)),
    /// The connection is gone; changes may be missed until it is back. The cache was turned
    /// off already; `was_on` says whether it had been on.
    Lost { why: String, was_on: bool },
}

async fn next_event(pushed: &mut Option<super::listener::Pushed>) -> Event {
    match pushed {
        Some(p) => p.next().await,
        None => std::future::pending().await,
    }
}

/// One poll for users whose epoch moved; returns whether it succeeded.
async fn poll(
    db: &DatabaseConnection,
    cache: &SessionCache,
    health: &DbHealth,
    registry: &mut super::registry::Reporter,
    since: &mut i64,
    listening: bool,
) -> bool {
    if listening && !cache.is_usable() {
        // Before the poll that turns the cache on: an operation that committed after this
        // registration reads it and waits for us, one that committed before is in the poll.
        registry.report(db, !cache.ttl.is_zero()).await;
    }
    let started = Utc::now().timestamp_millis();
    let mut changed = changed_since(db, *since).await;
    if changed.is_err() {
        // One broken pooled connection (left over from a restart, say) is not an outage:
        // the pool drops it, and a second try on a fresh one decides.
        changed = changed_since(db, *since).await;
    }
    match changed {
        Ok(rows) => {
            cache.apply(&rows);
            registry.acknowledge(db, &rows).await;
            if listening && !cache.usable.swap(true, Ordering::AcqRel) {
                tracing::info!("invalidation poll answered; session cache in use");
            }
            if !health.is_up() {
                health.set(true);
            }
            *since = started - OVERLAP_MS;
            true
        }
        Err(e) => {
            let outage = crate::database::is_outage(&e);
            if cache.turn_off() {
                match outage {
                    true => {
                        tracing::warn!(error = %e, "database unreachable; session cache emptied and bypassed")
                    }
                    false => {
                        tracing::error!(error = %e, "invalidation poll failed; session cache emptied and bypassed")
                    }
                }
            }
            registry.report(db, false).await;
            // A poll the database answered with a refusal (a fault of ours, not an outage)
            // shows it reachable: API calls must not all become 503s. The cache stays
            // bypassed all the same, since it cannot be kept honest.
            health.set(!outage);
            false
        }
    }
}
