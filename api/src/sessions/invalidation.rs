//! How sessions end before their time: the one path every trigger takes, and the security
//! epoch that keeps every instance's cache honest.

use chrono::Utc;
use entity::{session, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use uuid::Uuid;

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    One(Uuid),
    AllBut(Uuid),
    All,
}

/// Why sessions end; written to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Logout,
    /// The user ended one of their sessions from another one.
    EndedByUser,
    LogoutEverywhere,
    PasswordChanged,
    Deactivated,
    /// An operator ended them (`spa-auth sessions revoke`).
    Revoked,
    /// A new login from the same client replaced it.
    Replaced,
    /// A Django import changed the user's password, roles or active flag.
    Imported,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::EndedByUser => "ended_by_user",
            Reason::LogoutEverywhere => "logout_everywhere",
            Reason::PasswordChanged => "password_changed",
            Reason::Deactivated => "deactivated",
            Reason::Revoked => "revoked",
            Reason::Replaced => "replaced",
            Reason::Imported => "imported",
        }
    }
}

/// The one way sessions end before their time: every trigger (logout, logout everywhere,
/// password change, deactivation, operator revocation) comes through here, so none can skip
/// a step that a later cache depends on. It bumps the user's security epoch and deletes the
/// rows in the caller's transaction, and audits the reason.
///
/// The epoch moves *first*: that UPDATE takes the user's row lock, which every transaction
/// that opens a session also takes first (`authentication`), conditioned on the epoch it
/// verified against. So an ending and a login never interleave: either the login commits
/// first and this DELETE, a later statement, sees and removes its session, or the login
/// waits for the lock and then finds the epoch moved.
pub async fn end_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    which: Which,
    reason: Reason,
) -> Result<u64, DbErr> {
    bump_epoch(db, user_id).await?;
    let query = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
    let query = match which {
        Which::One(id) => query.filter(session::Column::Id.eq(id)),
        Which::AllBut(id) => query.filter(session::Column::Id.ne(id)),
        Which::All => query,
    };
    let ended = query.exec(db).await?.rows_affected;
    crate::telemetry::metrics::METRICS.sessions_ended(ended);
    tracing::info!(target: "audit", event = "sessions_ended", %user_id, reason = reason.as_str(), count = ended);
    Ok(ended)
}

/// Whether a session still exists; read in a transaction that holds its user's row lock, the
/// answer cannot change before that transaction ends.
pub async fn exists<C: ConnectionTrait>(db: &C, session_id: Uuid) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    Ok(session::Entity::find_by_id(session_id).count(db).await? > 0)
}

/// Marks everything cached about a user's sessions as stale. Called for every change of what
/// a session may do, including role changes that end no session.
pub async fn bump_epoch<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(
            user::Column::SecurityEpoch,
            sea_orm::sea_query::ExprTrait::add(Expr::col(user::Column::SecurityEpoch), 1),
        )
        .col_expr(
            user::Column::EpochChangedAt,
            Expr::value(Utc::now().timestamp_millis()),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = Utc::now();
    // expires_at never passes absolute_expires_at, so one column decides.
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
