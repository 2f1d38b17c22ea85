//! The `mail_outbox` table: [`enqueue`] in the caller's transaction, so that a message is
//! queued exactly when the change it reports commits.

use chrono::Utc;
use entity::mail_outbox;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};
use uuid::Uuid;

use super::MailKind;

/// Queues a message; the background sender delivers it. `params` must hold no secret.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    kind: MailKind,
    recipient: &str,
    params: serde_json::Value,
) -> Result<Uuid, DbErr> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    mail_outbox::ActiveModel {
        id: Set(id),
        kind: Set(kind.as_str().to_owned()),
        recipient: Set(recipient.to_owned()),
        params: Set(params),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
    }
    .insert(db)
    .await?;
    tracing::debug!(mail_id = %id, kind = kind.as_str(), "mail queued");
    Ok(id)
}

/// Wakes this process's sender when a transaction that queued mail commits, so that the
/// message leaves now rather than at the next poll.
static QUEUED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Call after committing a transaction that called [`enqueue`]. Only a hint: without it, the
/// message leaves at the sender's next poll.
pub fn wake() {
    QUEUED.notify_one();
}

/// Resolves at the next [`wake`] (or at once if one came while nobody waited).
pub(super) async fn queued() {
    QUEUED.notified().await
}
