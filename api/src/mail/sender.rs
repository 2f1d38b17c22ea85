//! The background sender: delivers what is in `mail_outbox`, from every instance at once
//! without sending a message twice, retrying what the SMTP server did not take.
//!
//! Each row is claimed by a conditional UPDATE (the attempt count it was read with, and no
//! live claim): of two instances that read the same row, one updates it and the other updates
//! nothing, on SQLite and PostgreSQL alike. A claim lasts two minutes, so that a message whose
//! sender died mid-delivery is picked up again.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::mail_outbox;
use lettre::message::Mailbox;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{
    ComposeError, Composed, MailKind, MailSettings,
    settings::SettingsError,
    templates::{TemplateError, Templates},
    transport::{SendError, Transport},
};
use crate::telemetry::metrics::METRICS;

/// How long a claimed row is left to its claimer.
const CLAIM: Duration = Duration::from_secs(120);
/// Attempts before a message is given up (a little over an hour of retries at the default base).
pub const MAX_ATTEMPTS: i32 = 12;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Sent and failed rows are kept this long, for an operator to look at.
const KEEP: chrono::Duration = chrono::Duration::days(7);
/// How often those older rows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Rows claimed per poll: a long queue is worked through poll after poll, and other
/// instances take their share meanwhile.
const BATCH: u64 = 20;

/// Why the sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail configuration: {0}")]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Templates(#[from] TemplateError),
}

/// The mail sender, ready to [`Sender::run`]. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    db: DatabaseConnection,
    transport: Arc<Transport>,
    templates: Arc<Templates>,
    from: Mailbox,
    poll: Duration,
    retry_base: Duration,
}

/// What became of one claimed row.
enum Outcome {
    Sent,
    /// Nothing to send any more (see `accounts::compose`).
    Dropped,
    Retry(String),
    Failed(String),
}

impl Sender {
    /// Checks the settings and the templates (every override renders); connects to nothing.
    pub fn new(db: DatabaseConnection, settings: &MailSettings) -> Result<Sender, MailError> {
        settings.validate()?;
        let url = settings
            .smtp_url
            .as_deref()
            .ok_or(SettingsError::InvalidSmtpUrl("not set".into()))?;
        Ok(Sender {
            db,
            transport: Arc::new(Transport::from_url(url)?),
            templates: Arc::new(Templates::load(settings.mail_templates.as_deref())?),
            from: settings.from()?,
            poll: settings.mail_poll,
            retry_base: settings.mail_retry_base,
        })
    }

    /// Delivers due mail every poll, and at once when this process queues some; never
    /// returns. `compose` turns a row into its message (see `accounts::compose`).
    pub async fn run<F, Fut>(self, compose: F)
    where
        F: Fn(mail_outbox::Model) -> Fut,
        Fut: Future<Output = Result<Option<Composed>, ComposeError>>,
    {
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                last_purge = Some(tokio::time::Instant::now());
                match purge(&self.db, Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "purged old mail"),
                    Err(e) => tracing::warn!(error = %e, "purging old mail failed"),
                }
            }
            match self.deliver_due(&compose).await {
                // A full batch: there may be more waiting.
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the mail outbox failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = super::outbox::queued() => {}
            }
        }
    }

    /// Claims and delivers the rows due now; returns how many were due.
    async fn deliver_due<F, Fut>(&self, compose: &F) -> Result<usize, DbErr>
    where
        F: Fn(mail_outbox::Model) -> Fut,
        Fut: Future<Output = Result<Option<Composed>, ComposeError>>,
    {
        use mail_outbox::Column as C;
        let now = Utc::now();
        let due = mail_outbox::Entity::find()
            .filter(C::SentAt.is_null())
            .filter(C::FailedAt.is_null())
            .filter(C::NextAttemptAt.lte(now))
            .filter(unclaimed(now))
            .order_by_asc(C::NextAttemptAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let n = due.len();
        for row in due {
            if let Some(row) = self.claim(row, now).await? {
                let outcome = self.deliver(compose, &row).await;
                self.record(row, outcome).await?;
            }
        }
        Ok(n)
    }

    /// Takes `row` for this instance, or `None` when another one got there first.
    async fn claim(
        &self,
        row: mail_outbox::Model,
        now: DateTime<Utc>,
    ) -> Result<Option<mail_outbox::Model>, DbErr> {
        use mail_outbox::Column as C;
        let until = now + chrono::Duration::from_std(CLAIM).unwrap_or(chrono::Duration::MAX);
        let attempts = row.attempts + 1;
        let res = mail_outbox::Entity::update_many()
            .col_expr(C::Attempts, Expr::value(attempts))
            .col_expr(C::ClaimedUntil, Expr::value(Some(until)))
            .filter(C::Id.eq(row.id))
            .filter(C::Attempts.eq(row.attempts))
            .filter(C::SentAt.is_null())
            .filter(C::FailedAt.is_null())
            .filter(unclaimed(now))
            .exec(&self.db)
            .await?;
        Ok((res.rows_affected == 1).then_some(mail_outbox::Model {
            attempts,
            claimed_until: Some(until),
            ..row
        }))
    }

    async fn deliver<F, Fut>(&self, compose: &F, row: &mail_outbox::Model) -> Outcome
    where
        F: Fn(mail_outbox::Model) -> Fut,
        Fut: Future<Output = Result<Option<Composed>, ComposeError>>,
    {
        let composed = match compose(row.clone()).await {
            Ok(Some(c)) => c,
            Ok(None) => return Outcome::Dropped,
            Err(ComposeError::Db(e)) => return Outcome::Retry(format!("composing: {e}")),
            Err(ComposeError::Invalid(e)) => return Outcome::Failed(format!("composing: {e}")),
        };
        let rendered = match self.templates.render(&composed) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match self
            .transport
            .send(&self.from, &composed.to, &rendered)
            .await
        {
            Ok(()) => Outcome::Sent,
            Err(SendError::Transient(e)) => Outcome::Retry(e),
            Err(SendError::Permanent(e)) => Outcome::Failed(e),
        }
    }

    /// Stores what became of a claimed row, and logs it (never its parameters or link).
    async fn record(&self, row: mail_outbox::Model, outcome: Outcome) -> Result<(), DbErr> {
        let (id, attempts) = (row.id, row.attempts);
        let kind = MailKind::parse(&row.kind).map_or("unknown", MailKind::as_str);
        let now = Utc::now();
        let mut active = row.into_active_model();
        active.claimed_until = Set(None);
        match outcome {
            Outcome::Dropped => {
                mail_outbox::Entity::delete_by_id(id).exec(&self.db).await?;
                tracing::info!(mail_id = %id, kind, "mail dropped: nothing to send any more");
                return Ok(());
            }
            Outcome::Sent => {
                // The parameters served their purpose; a sent row keeps only who and when.
                active.params = Set(serde_json::json!({}));
                active.sent_at = Set(Some(now));
                active.last_error = Set(None);
                METRICS.mail_sent();
                tracing::info!(mail_id = %id, kind, attempts, "mail sent");
            }
            Outcome::Retry(error) if attempts < MAX_ATTEMPTS => {
                let wait = backoff(self.retry_base, attempts, jitter());
                let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                active.next_attempt_at = Set(next);
                tracing::warn!(mail_id = %id, kind, attempts, retry_in = ?wait, %error, "mail not sent; will retry");
                active.last_error = Set(Some(error));
            }
            Outcome::Retry(error) | Outcome::Failed(error) => {
                active.failed_at = Set(Some(now));
                METRICS.mail_failed();
                tracing::warn!(mail_id = %id, kind, attempts, %error, "mail not sent; given up");
                active.last_error = Set(Some(error));
            }
        }
        active.update(&self.db).await?;
        Ok(())
    }
}

/// No claim, or one that has run out.
fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(mail_outbox::Column::ClaimedUntil.is_null())
        .add(mail_outbox::Column::ClaimedUntil.lt(now))
}

/// The wait after the `attempts`-th failed attempt: `base`, doubling each time, at most an
/// hour, shortened by up to a quarter by `jitter` (0 to 1) so that instances that failed
/// together do not all retry in the same instant.
pub fn backoff(base: Duration, attempts: i32, jitter: f64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(32);
    let full = base
        .saturating_mul(1u32 << doublings.min(31))
        .min(MAX_BACKOFF);
    full.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 4.0)
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX),
        // Jitter only spreads retries out; without randomness they still happen.
        Err(_) => 0.0,
    }
}

/// Deletes sent and given-up rows older than [`KEEP`].
async fn purge(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use mail_outbox::Column as C;
    let before = now - KEEP;
    let res = mail_outbox::Entity::delete_many()
        .filter(
            Condition::any()
                .add(C::SentAt.lt(before))
                .add(C::FailedAt.lt(before)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let base = Duration::from_secs(2);
        let waits: Vec<u64> = (1..=13).map(|n| backoff(base, n, 0.0).as_secs()).collect();
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600]
        );
        // Jitter takes off at most a quarter, never adds.
        assert_eq!(backoff(base, 3, 1.0), Duration::from_secs(6));
        assert_eq!(backoff(base, 3, 0.5), Duration::from_secs(7));
        // Nonsense in, sense out.
        assert_eq!(backoff(base, 0, 0.0), base);
        assert_eq!(backoff(base, 1000, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(base, 1, 7.0), Duration::from_millis(1500));
        // The whole schedule before giving up, at the default base: a little over an hour.
        let total: Duration = (1..MAX_ATTEMPTS).map(|n| backoff(base, n, 0.0)).sum();
        assert_eq!(
            total.as_secs(),
            2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 512 + 1024 + 2048
        );
    }
}
