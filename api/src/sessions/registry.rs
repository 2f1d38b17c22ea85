//! The registry of instances, so that a security operation answers only once every live
//! instance has dropped what it cached: "done" means a stolen cookie is refused everywhere.
//!
//! - every instance's watcher writes a heartbeat (`instances`) once a second, with whether its
//!   cache is in use; it registers "in use" *before* the poll that turns the cache on, so an
//!   operation either sees it registered and waits for it, or committed before that poll;
//! - after applying a change (pushed or polled) it records the user's epoch it has applied
//!   (`invalidation_acks`), only after dropping the entries;
//! - the operation, once committed, waits until every instance whose heartbeat is fresh and
//!   whose cache is in use has acknowledged the user's new epoch (or a newer one), at most
//!   [`DEAD_AFTER`]. An instance that has not written a heartbeat for that long is dead (its
//!   cache with it) or cut off from the database (and then its failed polls have turned its
//!   cache off); one that heartbeats but does not acknowledge is logged as an error, and its
//!   safety-net poll drops the entries within `SPA_AUTH_INVALIDATION_SAFETY_POLL`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use entity::{instance, invalidation_ack, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set,
    sea_query::{OnConflict, Query},
};
use uuid::Uuid;

/// How often an instance writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An instance without a heartbeat for this long is not waited for.
pub const DEAD_AFTER: Duration = Duration::from_secs(3);
/// Acknowledgements older than this are deleted: no operation waits that long.
const KEEP_ACKS: Duration = Duration::from_secs(60);
/// Instances silent for this long are deleted from the registry.
const FORGET_INSTANCES: Duration = Duration::from_secs(3600);
/// How soon a waiting operation looks again: at first after a millisecond (with push, most
/// instances have acknowledged within a few), then less and less often, so that an instance
/// that never answers costs a few hundred queries over [`DEAD_AFTER`], not thousands.
const FIRST_WAIT_STEP: Duration = Duration::from_millis(1);
const LAST_WAIT_STEP: Duration = Duration::from_millis(10);

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What the watcher writes about its own instance. Failures are only logged: the watcher's
/// poll decides whether the database is reachable, and an instance that cannot write its
/// heartbeat stops being waited for after [`DEAD_AFTER`], when its failed polls have turned
/// its cache off anyway.
pub(super) struct Reporter {
    id: Uuid,
    /// What the registry says of this instance's cache, as last written.
    written: Option<bool>,
    last_beat: Option<Instant>,
    last_prune: Option<Instant>,
    /// The epochs acknowledged so far, so that a poll seeing the same change again (polls
    /// overlap) writes nothing.
    acked: HashMap<Uuid, i64>,
}

impl Reporter {
    pub(super) fn new(id: Uuid) -> Self {
        Reporter {
            id,
            written: None,
            last_beat: None,
            last_prune: None,
            acked: HashMap::new(),
        }
    }

    /// Writes whether the cache is in use, now.
    pub(super) async fn report(&mut self, db: &DatabaseConnection, cache_on: bool) {
        let row = instance::ActiveModel {
            id: Set(self.id),
            heartbeat_at: Set(now_ms()),
            cache_on: Set(cache_on),
        };
        let upsert = instance::Entity::insert(row).on_conflict(
            OnConflict::column(instance::Column::Id)
                .update_columns([instance::Column::HeartbeatAt, instance::Column::CacheOn])
                .to_owned(),
        );
        match upsert.exec(db).await {
            Ok(_) => {
                self.written = Some(cache_on);
                self.last_beat = Some(Instant::now());
            }
            Err(e) => {
                self.written = None;
                tracing::debug!(error = %e, "instance heartbeat failed");
            }
        }
    }

    /// Writes the heartbeat when one is due or the cache changed state, and now and then
    /// deletes what nobody will read again.
    pub(super) async fn heartbeat(&mut self, db: &DatabaseConnection, cache_on: bool) {
        let due = self.last_beat.is_none_or(|t| t.elapsed() >= HEARTBEAT);
        if due || self.written != Some(cache_on) {
            self.report(db, cache_on).await;
        }
        if self.last_prune.is_none_or(|t| t.elapsed() >= KEEP_ACKS) {
            self.last_prune = Some(Instant::now());
            if let Err(e) = prune(db, self.id).await {
                tracing::debug!(error = %e, "pruning the instance registry failed");
            }
        }
    }

    /// Records that this instance has applied these users' epochs (its entries are gone);
    /// writes only those it has not recorded yet.
    pub(super) async fn acknowledge(&mut self, db: &DatabaseConnection, changes: &[(Uuid, i64)]) {
        let changes: Vec<(Uuid, i64)> = changes
            .iter()
            .copied()
            .filter(|(user, epoch)| self.acked.get(user).is_none_or(|acked| acked < epoch))
            .collect();
        if changes.is_empty() {
            return;
        }
        let at = now_ms();
        let rows = changes
            .iter()
            .map(|&(user_id, epoch)| invalidation_ack::ActiveModel {
                instance_id: Set(self.id),
                user_id: Set(user_id),
                epoch: Set(epoch),
                acked_at: Set(at),
            });
        let upsert = invalidation_ack::Entity::insert_many(rows).on_conflict(
            OnConflict::columns([
                invalidation_ack::Column::InstanceId,
                invalidation_ack::Column::UserId,
            ])
            .update_columns([
                invalidation_ack::Column::Epoch,
                invalidation_ack::Column::AckedAt,
            ])
            .to_owned(),
        );
        match upsert.exec(db).await {
            Ok(_) => {
                // Forgetting costs only a repeated write, so the memory is simply bounded.
                if self.acked.len() > 10_000 {
                    self.acked.clear();
                }
                self.acked.extend(changes);
            }
            // The operation waiting for it goes on once this instance's heartbeat is stale,
            // or at its bound.
            Err(e) => tracing::warn!(error = %e, "acknowledging an invalidation failed"),
        }
    }
}

async fn prune(db: &DatabaseConnection, me: Uuid) -> Result<(), DbErr> {
    let now = now_ms();
    invalidation_ack::Entity::delete_many()
        .filter(invalidation_ack::Column::InstanceId.eq(me))
        .filter(invalidation_ack::Column::AckedAt.lt(now - ms(KEEP_ACKS)))
        .exec(db)
        .await?;
    // Left behind by instances that stopped: removed by whichever instance comes by.
    invalidation_ack::Entity::delete_many()
        .filter(invalidation_ack::Column::AckedAt.lt(now - ms(FORGET_INSTANCES)))
        .exec(db)
        .await?;
    instance::Entity::delete_many()
        .filter(instance::Column::HeartbeatAt.lt(now - ms(FORGET_INSTANCES)))
        .exec(db)
        .await?;
    Ok(())
}

/// How a wait for every instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Every live instance with its cache in use has applied the change.
    Everywhere,
    /// This many live instances had not acknowledged it at the bound.
    TimedOut(u64),
    /// The registry could not be read; the error was logged.
    Unknown,
}

/// The user's epoch now: the change just committed, or a later one (waiting for which is
/// waiting for ours too, epochs only grow).
pub async fn current_epoch<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<i64, DbErr> {
    let epoch = user::Entity::find_by_id(user_id)
        .select_only()
        .column(user::Column::SecurityEpoch)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(epoch.unwrap_or(0))
}

/// How many live instances with their cache in use, other than `except`, have not yet
/// applied `epoch` of `user_id`.
async fn pending(
    db: &DatabaseConnection,
    user_id: Uuid,
    epoch: i64,
    except: Option<Uuid>,
) -> Result<u64, DbErr> {
    let acknowledged = Query::select()
        .column(invalidation_ack::Column::InstanceId)
        .from(invalidation_ack::Entity)
        .and_where(invalidation_ack::Column::UserId.eq(user_id))
        .and_where(invalidation_ack::Column::Epoch.gte(epoch))
        .to_owned();
    let mut query = instance::Entity::find()
        .filter(instance::Column::HeartbeatAt.gt(now_ms() - ms(DEAD_AFTER)))
        .filter(instance::Column::CacheOn.eq(true))
        .filter(instance::Column::Id.not_in_subquery(acknowledged));
    if let Some(me) = except {
        query = query.filter(instance::Column::Id.ne(me));
    }
    query.count(db).await
}

/// Waits, after a committed change of `user_id` to `epoch`, until every live instance but
/// `except` (the caller's own, which dropped its entries itself) has dropped what it cached
/// about the user; at most [`DEAD_AFTER`]. Never fails: the change is committed whatever
/// happens here, and an instance that cannot be heard from is dead or has its cache off.
pub async fn wait_applied(
    db: &DatabaseConnection,
    user_id: Uuid,
    epoch: i64,
    except: Option<Uuid>,
) -> Settled {
    let started = Instant::now();
    let mut step = FIRST_WAIT_STEP;
    loop {
        match pending(db, user_id, epoch, except).await {
            Ok(0) => return Settled::Everywhere,
            Ok(n) if started.elapsed() >= DEAD_AFTER => {
                tracing::error!(%user_id, instances = n, "live instances did not acknowledge an invalidation in time; their safety-net poll will drop it");
                return Settled::TimedOut(n);
            }
            Ok(_) => {
                tokio::time::sleep(step).await;
                step = (step * 2).min(LAST_WAIT_STEP);
            }
            Err(e) => {
                tracing::warn!(%user_id, error = %e, "cannot tell whether every instance applied an invalidation");
                return Settled::Unknown;
            }
        }
    }
}

/// After a committed change of `user_id` made outside any instance's cache (the CLI, a
/// library caller): waits until every live instance has applied it.
pub async fn settle_everywhere(db: &DatabaseConnection, user_id: Uuid) -> Settled {
    match current_epoch(db, user_id).await {
        Ok(epoch) => wait_applied(db, user_id, epoch, None).await,
        Err(e) => {
            tracing::warn!(%user_id, error = %e, "cannot read the epoch to wait for");
            Settled::Unknown
        }
    }
}
