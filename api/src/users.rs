//! Users: creation, lookup by case-insensitive username, activation, roles.

use chrono::Utc;
use entity::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, SqlErr, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    mail::MailKind,
    sessions::{Reason, Which, bump_epoch, end_sessions, registry::settle_everywhere},
};

pub const MAX_USERNAME: usize = 150;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user named {0:?} already exists (usernames are unique ignoring case)")]
    UsernameTaken(String),
    #[error("username must be 1 to {MAX_USERNAME} characters: letters, digits and @ . + - _ only")]
    InvalidUsername,
    #[error("another account has this email address")]
    EmailTaken,
    #[error("no user named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The unique key of a username: `Alice` and `alice` are the same account.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// The unique key of an email address: `Alice@Example.com` and `alice@example.com` are one
/// address (the local part is case-sensitive by the RFC, but no mail system treats it so).
/// `None` for no address.
pub fn email_key(email: &str) -> Option<String> {
    let key = email.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

/// Gives every user without an email key the key of their address, where no other user has
/// the same address: after an import of addresses that were never unique (Django's), every
/// address that can identify one account does, and shared ones identify none.
pub async fn assign_email_keys<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    use std::collections::HashMap;
    let all = user::Entity::find().all(db).await?;
    let mut by_key: HashMap<String, Vec<&user::Model>> = HashMap::new();
    for u in &all {
        if let Some(key) = email_key(&u.email) {
            by_key.entry(key).or_default().push(u);
        }
    }
    let mut assigned = 0;
    for (key, users) in by_key {
        if let [only] = users[..]
            && only.email_key.is_none()
        {
            user::Entity::update_many()
                .col_expr(user::Column::EmailKey, Expr::value(Some(key)))
                .filter(user::Column::Id.eq(only.id))
                .exec(db)
                .await?;
            assigned += 1;
        }
    }
    Ok(assigned)
}

/// Django's default rule: letters, digits and `@.+-_`, at most 150 characters.
pub fn valid_username(username: &str) -> bool {
    let len = username.chars().count();
    (1..=MAX_USERNAME).contains(&len)
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// Creates a user an operator vouches for: the address, if any, counts as verified.
pub async fn create(
    db: &DatabaseConnection,
    new: NewUser,
    password_hash: Option<String>,
) -> Result<user::Model, UserError> {
    create_in(db, new, password_hash, true).await
}

/// Creates a user in the caller's transaction; `verified` says whether the address counts as
/// verified already (an operator's word, an invitation mailed to it) or must be proved.
pub async fn create_in<C: ConnectionTrait>(
    db: &C,
    new: NewUser,
    password_hash: Option<String>,
    verified: bool,
) -> Result<user::Model, UserError> {
    if !valid_username(&new.username) {
        return Err(UserError::InvalidUsername);
    }
    let now = Utc::now();
    let key = email_key(&new.email);
    let model = user::ActiveModel {
        id: Set(Uuid::new_v4()),
        username_key: Set(username_key(&new.username)),
        username: Set(new.username.clone()),
        email_verified_at: Set((verified && key.is_some()).then_some(now)),
        email_key: Set(key),
        email: Set(new.email),
        first_name: Set(new.first_name),
        last_name: Set(new.last_name),
        password_hash: Set(password_hash),
        is_active: Set(true),
        date_joined: Set(now),
        last_login: Set(None),
        roles: Set(user::Roles::default()),
        security_epoch: Set(0),
        epoch_changed_at: Set(0),
    };
    model.insert(db).await.map_err(|e| match e.sql_err() {
        // The constraint's name is in the message on both databases: `idx_users_email_key`
        // on PostgreSQL, `users.email_key` on SQLite.
        Some(SqlErr::UniqueConstraintViolation(m)) if m.contains("email_key") => {
            UserError::EmailTaken
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => UserError::UsernameTaken(new.username),
        _ => UserError::Db(e),
    })
}

pub async fn find_by_username(
    db: &DatabaseConnection,
    username: &str,
) -> Result<Option<user::Model>, DbErr> {
    // No such user can exist, and text like a NUL must never reach the database (PostgreSQL
    // refuses it as an error, which would let anyone fake an outage).
    if !valid_username(username) {
        return Ok(None);
    }
    user::Entity::find()
        .filter(user::Column::UsernameKey.eq(username_key(username)))
        .one(db)
        .await
}

pub async fn find_by_id(db: &DatabaseConnection, id: Uuid) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

/// [`find_by_id`] in the caller's transaction.
pub async fn find_by_id_in<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub async fn get_by_username(
    db: &DatabaseConnection,
    username: &str,
) -> Result<user::Model, UserError> {
    find_by_username(db, username)
        .await?
        .ok_or_else(|| UserError::NotFound(username.to_owned()))
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::UsernameKey)
        .all(db)
        .await
}

pub async fn count(db: &DatabaseConnection) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    user::Entity::find().count(db).await
}

/// Records a successful login, storing a fresh hash when the old one used outdated parameters,
/// but only if the user is still exactly as `verified` was read: same security epoch, same
/// hash, still active. `None` when anything moved in between (a password change, a
/// deactivation, a revocation): the login lost that race and must not go on.
///
/// One conditional UPDATE, so it is a compare-and-set on every database: a rehash can never
/// write back a hash of the old password over a password change, and on PostgreSQL it holds
/// the user's row lock until the caller's transaction ends (see `sessions::end_sessions`).
pub async fn record_login_if_unchanged<C: ConnectionTrait>(
    db: &C,
    verified: user::Model,
    new_hash: Option<String>,
) -> Result<Option<user::Model>, DbErr> {
    let Some(verified_hash) = verified.password_hash.clone() else {
        return Ok(None);
    };
    let now = Utc::now();
    let mut update = user::Entity::update_many()
        .col_expr(user::Column::LastLogin, Expr::value(Some(now)))
        .filter(user::Column::Id.eq(verified.id))
        .filter(user::Column::SecurityEpoch.eq(verified.security_epoch))
        .filter(user::Column::PasswordHash.eq(verified_hash))
        .filter(user::Column::IsActive.eq(true));
    if let Some(hash) = &new_hash {
        update = update.col_expr(user::Column::PasswordHash, Expr::value(hash.clone()));
    }
    if update.exec(db).await?.rows_affected == 0 {
        return Ok(None);
    }
    let mut user = verified;
    user.last_login = Some(now);
    if let Some(hash) = new_hash {
        user.password_hash = Some(hash);
    }
    Ok(Some(user))
}

/// Records a successful passwordless login if the user is still as `verified` was read: same
/// security epoch, still active; `None` otherwise, as [`record_login_if_unchanged`]. Takes
/// the user's row lock for the rest of the caller's transaction.
pub async fn record_login_if_active<C: ConnectionTrait>(
    db: &C,
    verified: user::Model,
) -> Result<Option<user::Model>, DbErr> {
    let now = Utc::now();
    let updated = user::Entity::update_many()
        .col_expr(user::Column::LastLogin, Expr::value(Some(now)))
        .filter(user::Column::Id.eq(verified.id))
        .filter(user::Column::SecurityEpoch.eq(verified.security_epoch))
        .filter(user::Column::IsActive.eq(true))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(user::Model {
        last_login: Some(now),
        ..verified
    }))
}

/// Stores the hash of a new password if the user is still at the security epoch the current
/// password was checked at, and active; `false` when anything that ends sessions happened in
/// between (the caller reads the user again and decides). A rehash by a concurrent login does
/// not move the epoch, so it does not get in the way. Takes the user's row lock for the rest
/// of the caller's transaction.
pub async fn replace_password_hash_if_unchanged<C: ConnectionTrait>(
    db: &C,
    verified: &user::Model,
    new_hash: String,
) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(new_hash))
        .filter(user::Column::Id.eq(verified.id))
        .filter(user::Column::SecurityEpoch.eq(verified.security_epoch))
        .filter(user::Column::IsActive.eq(true))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Replaces the password hash and ends every session of the user, in one transaction, which
/// also queues the "your password was changed" mail when `mail` is on; returns once every
/// live instance has dropped what it cached about the user.
pub async fn set_password_hash(
    db: &DatabaseConnection,
    user: user::Model,
    hash: String,
    mail: bool,
) -> Result<user::Model, DbErr> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let id = user.id;
    let mut active: user::ActiveModel = user.into();
    active.password_hash = Set(Some(hash));
    let user = active.update(&txn).await?;
    end_sessions(&txn, id, Which::All, Reason::PasswordChanged).await?;
    let notified = queue_password_changed(&txn, &user, mail).await?;
    txn.commit().await?;
    if notified {
        crate::mail::outbox::wake();
    }
    settle_everywhere(db, id).await;
    Ok(user)
}

/// Queues "your password was changed" to the user's address, in the caller's transaction so
/// that the notice exists exactly when the change does; nothing when mail is off or the user
/// has no address. Returns whether a message was queued.
pub async fn queue_password_changed<C: ConnectionTrait>(
    db: &C,
    user: &user::Model,
    mail: bool,
) -> Result<bool, DbErr> {
    if !mail || email_key(&user.email).is_none() {
        return Ok(false);
    }
    let params = serde_json::json!({ "username": user.username });
    crate::mail::outbox::enqueue(db, MailKind::PasswordChanged, user.email.trim(), params).await?;
    Ok(true)
}

/// Activates or deactivates; deactivation ends every session of the user. Returns once every
/// live instance has dropped what it cached about the user.
pub async fn set_active(
    db: &DatabaseConnection,
    user: user::Model,
    active_flag: bool,
) -> Result<user::Model, DbErr> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let id = user.id;
    let mut active: user::ActiveModel = user.into();
    active.is_active = Set(active_flag);
    let user = active.update(&txn).await?;
    if active_flag {
        bump_epoch(&txn, id).await?;
    } else {
        end_sessions(&txn, id, Which::All, Reason::Deactivated).await?;
    }
    txn.commit().await?;
    settle_everywhere(db, id).await;
    Ok(user)
}

/// What an operator may change of an account (`spa-auth user edit`); `None` leaves it.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Applies an operator's edit. A new address gets its unique key, like every other way an
/// address is set, and counts as verified (the operator vouches for it, as for `create`);
/// since verification and reset links are bound to the address they were mailed for, the
/// old address's pending links die with the change. The epoch moves, so that every instance
/// shows the change (`/api/me`) on the very next request; returns once every live instance
/// has dropped what it cached.
pub async fn edit(
    db: &DatabaseConnection,
    user: user::Model,
    edit: Edit,
) -> Result<user::Model, UserError> {
    use sea_orm::TransactionTrait;
    let id = user.id;
    let email_changed = edit
        .email
        .as_deref()
        .is_some_and(|e| email_key(e) != email_key(&user.email));
    let txn = db.begin().await?;
    let mut active: user::ActiveModel = user.into();
    if let Some(email) = edit.email {
        let email = email.trim().to_owned();
        let key = email_key(&email);
        active.email_verified_at = Set(key.is_some().then(Utc::now));
        active.email_key = Set(key);
        active.email = Set(email);
    }
    if let Some(first) = edit.first_name {
        active.first_name = Set(first);
    }
    if let Some(last) = edit.last_name {
        active.last_name = Set(last);
    }
    let user = match active.update(&txn).await {
        Ok(user) => user,
        Err(e) => {
            txn.rollback().await?;
            return Err(match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => UserError::EmailTaken,
                _ => UserError::Db(e),
            });
        }
    };
    bump_epoch(&txn, id).await?;
    txn.commit().await?;
    settle_everywhere(db, id).await;
    tracing::info!(target: "audit", event = "user_edited", user_id = %id, email_changed);
    Ok(user)
}

/// Deletes a user and everything that belongs to it. First, in one transaction, the user is
/// deactivated and every session ended through `end_sessions` (so no login can open a new one
/// in between), and every live instance drops what it cached; only then is the row deleted
/// (its sessions, tokens and second factors go with it): once the row is gone, the epoch that
/// tells instances to drop a user's entries can no longer be read. Returns the number of
/// sessions ended. Should the second step fail, the user stays deactivated with no session,
/// and deleting again finishes the job.
pub async fn delete(db: &DatabaseConnection, user: user::Model) -> Result<u64, DbErr> {
    use sea_orm::{ModelTrait, TransactionTrait};
    let txn = db.begin().await?;
    let id = user.id;
    let mut active: user::ActiveModel = user.clone().into();
    active.is_active = Set(false);
    active.update(&txn).await?;
    let ended = end_sessions(&txn, id, Which::All, Reason::UserDeleted).await?;
    txn.commit().await?;
    settle_everywhere(db, id).await;
    user.delete(db).await?;
    tracing::info!(target: "audit", event = "user_deleted", user_id = %id, sessions_ended = ended);
    Ok(ended)
}

/// Adds or removes a role. Sessions are not ended, but the epoch moves so that nothing
/// cached about them outlives the change; returns once every live instance has dropped what
/// it cached. Returns whether anything changed.
pub async fn change_role(
    db: &DatabaseConnection,
    user: user::Model,
    role: &str,
    grant: bool,
) -> Result<bool, DbErr> {
    use sea_orm::TransactionTrait;
    let mut roles = user.roles.0.clone();
    let had = roles.iter().any(|r| r == role);
    if had == grant {
        return Ok(false);
    }
    if grant {
        roles.push(role.to_owned());
        roles.sort();
    } else {
        roles.retain(|r| r != role);
    }
    let txn = db.begin().await?;
    let id = user.id;
    let mut active: user::ActiveModel = user.into();
    active.roles = Set(user::Roles(roles));
    active.update(&txn).await?;
    bump_epoch(&txn, id).await?;
    txn.commit().await?;
    settle_everywhere(db, id).await;
    tracing::info!(target: "audit", event = "role_changed", user_id = %id, role, granted = grant);
    Ok(true)
}

/// Gives a user just created in the caller's transaction its roles (an invitation's).
pub async fn set_roles_in<C: ConnectionTrait>(
    db: &C,
    user: user::Model,
    roles: Vec<String>,
) -> Result<user::Model, DbErr> {
    let mut roles: Vec<String> = roles.into_iter().filter(|r| valid_role(r)).collect();
    if roles.is_empty() {
        return Ok(user);
    }
    roles.sort();
    roles.dedup();
    let mut active: user::ActiveModel = user.into();
    active.roles = Set(user::Roles(roles));
    active.update(db).await
}

/// Role names: short, printable, no spaces.
pub fn valid_role(role: &str) -> bool {
    (1..=64).contains(&role.len())
        && role
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_djangos_rule() {
        assert!(valid_username("alice"));
        assert!(valid_username("a.b+c-d_e@f"));
        assert!(valid_username("zoë"));
        assert!(!valid_username(""));
        assert!(!valid_username("has space"));
        assert!(!valid_username("semi;colon"));
        assert!(!valid_username(&"a".repeat(151)));
    }
}
