//! Changes pushed by PostgreSQL: `bump_epoch` sends `NOTIFY` in the transaction that moves a
//! user's epoch (so it is delivered only if the change commits, and after it is visible), and
//! every instance's listening connection hands each to the watcher (`cache::watch`).
//!
//! The connection lives in a task of its own, so that the watcher can wait for a change and
//! for its next poll at once without ever cancelling a read half-way through a message. It
//! has a one-connection pool of its own with the options of the service's pool: it holds its
//! connection for good, and must not take one from the requests.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::{
    DatabaseConnection,
    sqlx::postgres::{PgListener, PgPoolOptions},
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::cache::{Event, SessionCache};

/// The channel every instance listens on; the payload is `<user id>:<new epoch>`.
pub const CHANNEL: &str = "spa_auth_invalidation";

/// How long to wait before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(100);

/// The payload of a change of `user_id`'s epoch to `epoch`.
pub fn payload(user_id: Uuid, epoch: i64) -> String {
    format!("{user_id}:{epoch}")
}

fn parse(payload: &str) -> Option<(Uuid, i64)> {
    let (user, epoch) = payload.split_once(':')?;
    Some((user.parse().ok()?, epoch.parse().ok()?))
}

/// The events of the listening task; the task ends when this is dropped.
pub(super) struct Pushed {
    events: mpsc::UnboundedReceiver<Event>,
    task: tokio::task::JoinHandle<()>,
    /// Changes received after a `Lost` or `Listening` in the same batch, kept in order.
    held: Option<Event>,
    closed: bool,
    /// Whether the listening connection is up, as the listening task last knew it.
    connected: Arc<AtomicBool>,
}

impl Drop for Pushed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pushed {
    /// Whether the listening connection is up right now.
    pub(super) fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub(super) async fn next(&mut self) -> Event {
        if let Some(event) = self.held.take() {
            return event;
        }
        if self.closed {
            return std::future::pending().await;
        }
        match self.events.recv().await {
            Some(event) => event,
            // The task never ends by itself; if it did, nothing is pushed any more: reported
            // once, so that the cache stays off.
            None => {
                self.closed = true;
                Event::Lost {
                    why: "the listening task ended".into(),
                    was_on: false,
                }
            }
        }
    }

    /// The changes already waiting, to be applied in one batch; stops at any other event,
    /// which the next call to [`Pushed::next`] returns.
    pub(super) fn drain_changes(&mut self) -> Vec<(Uuid, i64)> {
        let mut changes = Vec::new();
        while self.held.is_none() {
            match self.events.try_recv() {
                Ok(Event::Changed(change)) => changes.push(change),
                Ok(other) => self.held = Some(other),
                Err(_) => break,
            }
        }
        changes
    }
}

/// Starts listening on `db`'s PostgreSQL server. Changes are applied to `cache` right here,
/// as they arrive, and a lost connection turns it off right here too: the watcher, which
/// then acknowledges them in the registry, may be busy with the database for a while.
pub(super) fn spawn(db: &DatabaseConnection, cache: Arc<SessionCache>) -> Pushed {
    let options = (*db.get_postgres_connection_pool().connect_options()).clone();
    let acquire = db
        .get_postgres_connection_pool()
        .options()
        .get_acquire_timeout();
    let (tx, events) = mpsc::unbounded_channel();
    let connected = Arc::new(AtomicBool::new(false));
    let up = connected.clone();
    let task = tokio::spawn(async move {
        let mut failing = false;
        loop {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(acquire)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_lazy_with(options.clone());
            match listen(&pool).await {
                Ok(mut listener) => {
                    failing = false;
                    up.store(true, Ordering::SeqCst);
                    if tx.send(Event::Listening).is_err() {
                        return;
                    }
                    let lost = relay(&mut listener, &cache, &tx).await;
                    // Before anything else: notifications are being missed from now on. The
                    // flag first, so that a poll finishing meanwhile cannot turn the cache
                    // back on (see `cache::poll`).
                    up.store(false, Ordering::SeqCst);
                    let was_on = cache.turn_off();
                    if tx.send(Event::Lost { why: lost, was_on }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot listen for invalidations; polling every SPA_AUTH_INVALIDATION_POLL with the session cache off until it can");
                    }
                    failing = true;
                }
            }
            pool.close().await;
            tokio::time::sleep(RETRY).await;
        }
    });
    Pushed {
        events,
        task,
        held: None,
        closed: false,
        connected,
    }
}

async fn listen(pool: &sea_orm::sqlx::PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection must be reported, not silently replaced: notifications sent while it
    // was down are gone, and only a catch-up poll can make up for them.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Hands every notification to the watcher until the connection is lost; returns why.
async fn relay(
    listener: &mut PgListener,
    cache: &SessionCache,
    tx: &mpsc::UnboundedSender<Event>,
) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match parse(n.payload()) {
                Some(change) => {
                    cache.apply(&[change]);
                    if tx.send(Event::Changed(change)).is_err() {
                        return "the watcher stopped".into();
                    }
                }
                None => tracing::warn!(payload = n.payload(), "malformed invalidation ignored"),
            },
            Ok(None) => return "the listening connection was closed".into(),
            Err(e) => return e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back_as_the_change_it_describes() {
        let user = Uuid::new_v4();
        assert_eq!(parse(&payload(user, 42)), Some((user, 42)));
        assert_eq!(parse("not-a-uuid:1"), None);
        assert_eq!(parse(&format!("{user}:x")), None);
        assert_eq!(parse(""), None);
    }
}
