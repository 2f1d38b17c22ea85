//! Resetting a forgotten password with a link mailed to the account's address.
//!
//! Asking for a link answers the same 202 in the same time whether or not the address has an
//! account: the request only counts itself against the throttle and queues the message; who
//! (if anyone) has the address is looked up when the mail is composed, off the request path.
//! The token dies when used, after 30 minutes, when a newer one is mailed, and when the
//! password or the address changes (its binding, see `tokens::reset_binding`).

use chrono::Utc;
use entity::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr};
use serde_json::json;

use super::{AccountError, email::limit, tokens, valid_email};
use crate::{
    mail::{MailKind, outbox},
    passwords::{Password, check_new_password},
    services::Services,
    sessions::{Reason, Which, end_sessions, registry::settle_everywhere},
    users,
};

/// Queues a reset link for `email`.
pub async fn request(state: &Services, email: &str, ip: Option<&str>) -> Result<(), AccountError> {
    super::require_mail(&state.accounts)?;
    let email = email.trim();
    if !valid_email(email) {
        return Err(AccountError::InvalidEmail);
    }
    limit(state, "reset", email, ip).await?;
    outbox::enqueue(&state.db, MailKind::PasswordReset, email, json!({})).await?;
    outbox::wake();
    Ok(())
}

/// Sets a new password with the token from a reset link. Every session of the user ends (a
/// reset is what someone does who fears their account is in other hands), through the one
/// invalidation path, and a notice is mailed. The user then logs in with the new password.
pub async fn confirm(
    state: &Services,
    raw: &str,
    new_password: &Password,
    ip: Option<&str>,
) -> Result<user::Model, AccountError> {
    // Checked before the token is spent, so that a password the rules refuse does not cost
    // the user their link.
    let token = tokens::peek(&state.db, tokens::Purpose::ResetPassword, raw)
        .await?
        .ok_or(AccountError::InvalidToken)?;
    let user = match token.user_id {
        Some(id) => users::find_by_id(&state.db, id).await?,
        None => None,
    };
    let user = user
        .filter(|u| u.is_active)
        .filter(|u| tokens::reset_binding(u.password_hash.as_deref(), &u.email) == token.binding)
        .ok_or(AccountError::InvalidToken)?;
    check_new_password(new_password.expose(), &user.username)?;
    let hash = state.passwords.hash(new_password).await?;

    let txn = state.db.begin().await?;
    if tokens::take(&txn, tokens::Purpose::ResetPassword, raw)
        .await?
        .is_none()
    {
        txn.rollback().await?;
        return Err(AccountError::InvalidToken);
    }
    // Compare-and-set on what the token is bound to: a password or address change that
    // committed since the check above wins, and the link is dead.
    let mut update = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(Some(hash)))
        .filter(user::Column::Id.eq(user.id))
        .filter(user::Column::Email.eq(user.email.clone()))
        .filter(user::Column::IsActive.eq(true));
    update = match &user.password_hash {
        Some(old) => update.filter(user::Column::PasswordHash.eq(old.clone())),
        None => update.filter(user::Column::PasswordHash.is_null()),
    };
    // The link reached the address: it is proved, if it was not yet.
    if user.email_verified_at.is_none() && user.email == token.email {
        update = update.col_expr(user::Column::EmailVerifiedAt, Expr::value(Some(Utc::now())));
    }
    if update.exec(&txn).await?.rows_affected != 1 {
        txn.rollback().await?;
        return Err(AccountError::InvalidToken);
    }
    end_sessions(&txn, user.id, Which::All, Reason::PasswordReset).await?;
    tokens::revoke(&txn, user.id, tokens::Purpose::ResetPassword).await?;
    users::queue_password_changed(&txn, &user, state.accounts.mail).await?;
    txn.commit().await?;
    outbox::wake();
    // "Done" means every stolen cookie is refused everywhere.
    settle_everywhere(&state.db, user.id).await;
    tracing::info!(target: "audit", event = "password_reset", user_id = %user.id, ip);
    Ok(user)
}
