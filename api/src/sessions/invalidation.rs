//! How sessions end before their time: the one path every trigger takes, and the security
//! epoch that keeps every instance's cache honest.

use chrono::Utc;
use entity::{session, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    Statement, TransactionSession, TransactionTrait, sea_query::Expr,
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
    /// The password was reset with a link mailed to the user.
    PasswordReset,
    /// The user turned their TOTP off: every session, this one too, proved a factor that no
    /// longer guards the account.
    SecondFactorDisabled,
    /// An operator removed the user's second factors (`spa-auth user mfa reset`).
    SecondFactorReset,
    /// An operator deleted the user (`spa-auth user delete`).
    UserDeleted,
    /// The user removed one of their passkeys: as for TOTP, every session ends, since any
    /// may have been opened with it.
    PasskeyRemoved,
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
            Reason::PasswordReset => "password_reset",
            Reason::SecondFactorDisabled => "second_factor_disabled",
            Reason::SecondFactorReset => "second_factor_reset",
            Reason::UserDeleted => "user_deleted",
            Reason::PasskeyRemoved => "passkey_removed",
        }
    }
}

/// The one way sessions end before their time: every trigger (logout, logout everywhere,
/// password change, deactivation, operator revocation) comes through here, so none can skip
/// a step that a later cache depends on. It bumps the user's security epoch and deletes the
/// rows in one transaction (a savepoint inside the caller's), and audits the reason.
///
/// The epoch moves *first*: that UPDATE takes the user's row lock, which every transaction
/// that opens a session also takes first (`authentication`), conditioned on the epoch it
/// verified against. So an ending and a login never interleave: either the login commits
/// first and this DELETE, a later statement, sees and removes its session, or the login
/// waits for the lock and then finds the epoch moved. One transaction, because the pushed
/// notification is delivered at its commit: an instance that drops its entries then must
/// not be able to read the sessions back before they are deleted.
pub async fn end_sessions<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: Uuid,
    which: Which,
    reason: Reason,
) -> Result<u64, DbErr> {
    Ok(end_sessions_at(db, user_id, which, reason).await?.0)
}

/// [`end_sessions`], also returning the user's new epoch.
pub(super) async fn end_sessions_at<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: Uuid,
    which: Which,
    reason: Reason,
) -> Result<(u64, i64), DbErr> {
    let txn = db.begin().await?;
    let epoch = bump_epoch(&txn, user_id).await?;
    let query = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
    let query = match which {
        Which::One(id) => query.filter(session::Column::Id.eq(id)),
        Which::AllBut(id) => query.filter(session::Column::Id.ne(id)),
        Which::All => query,
    };
    let ended = query.exec(&txn).await?.rows_affected;
    txn.commit().await?;
    crate::telemetry::metrics::METRICS.sessions_ended(ended);
    tracing::info!(target: "audit", event = "sessions_ended", %user_id, reason = reason.as_str(), count = ended);
    Ok((ended, epoch))
}

/// Whether a session still exists; read in a transaction that holds its user's row lock, the
/// answer cannot change before that transaction ends.
pub async fn exists<C: ConnectionTrait>(db: &C, session_id: Uuid) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    Ok(session::Entity::find_by_id(session_id).count(db).await? > 0)
}

/// Marks everything cached about a user's sessions as stale, and returns the user's new
/// epoch. Called for every change of what a session may do, including role changes that end
/// no session.
///
/// On PostgreSQL it also pushes the change to every instance (`NOTIFY`, see
/// `sessions::listener`) in the caller's transaction: PostgreSQL delivers it only if that
/// commits, and only once the whole transaction is visible.
pub async fn bump_epoch<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<i64, DbErr> {
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
    // Under the row lock the UPDATE took: no other change can move it in between.
    let epoch = super::registry::current_epoch(db, user_id).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [
                super::listener::CHANNEL.into(),
                super::listener::payload(user_id, epoch).into(),
            ],
        ))
        .await?;
    }
    Ok(epoch)
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
