//! Proving an address: the link mailed on sign-up, on request (resend) and on an address
//! change. An address changes only once the new one is proved; the old one is told.

use chrono::Utc;
use entity::user;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr, SqlErr, TransactionTrait};
use serde_json::json;

use super::{AccountError, tokens, valid_email};
use crate::{
    authentication,
    mail::{MailKind, outbox},
    passwords::Password,
    services::Services,
    sessions::{ClientInfo, Current, bump_epoch, registry::settle_everywhere},
    users,
};

/// Spends a verification token: the address it was mailed to becomes the user's, verified.
/// Moves the security epoch, so that every instance's cached copy of the user (and with it
/// `/api/me`) shows the new address on the very next request.
pub async fn verify(state: &Services, raw: &str) -> Result<user::Model, AccountError> {
    let txn = state.db.begin().await?;
    let token = tokens::take(&txn, tokens::Purpose::VerifyEmail, raw).await?;
    let user = match token.as_ref().and_then(|t| t.user_id) {
        Some(id) => users::find_by_id_in(&txn, id).await?,
        None => None,
    };
    // The link is for the address the user had when it was mailed; a change since (another
    // verification, an operator's edit) makes it dead.
    let (Some(token), Some(user)) = (token, user.filter(|u| u.is_active)) else {
        txn.rollback().await?;
        return Err(AccountError::InvalidToken);
    };
    if user.email != token.binding {
        txn.rollback().await?;
        return Err(AccountError::InvalidToken);
    }
    let id = user.id;
    let changed = user.email != token.email;
    let mut active: user::ActiveModel = user.into();
    active.email_key = Set(users::email_key(&token.email));
    active.email = Set(token.email.clone());
    active.email_verified_at = Set(Some(Utc::now()));
    let user = match active.update(&txn).await {
        Ok(user) => user,
        Err(e) => {
            txn.rollback().await?;
            return Err(taken_or(e));
        }
    };
    bump_epoch(&txn, id).await?;
    txn.commit().await?;
    settle_everywhere(&state.db, id).await;
    tracing::info!(target: "audit", event = "email_verified", user_id = %id, changed);
    Ok(user)
}

fn taken_or(e: DbErr) -> AccountError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AccountError::EmailTaken,
        _ => AccountError::Db(e),
    }
}

/// Mails a new verification link to `email` if an account with that address is waiting for
/// one. Answers the same whether or not one is: the lookup happens when the mail is composed,
/// off the request path.
pub async fn resend(state: &Services, email: &str, ip: Option<&str>) -> Result<(), AccountError> {
    super::require_mail(&state.accounts)?;
    let email = email.trim();
    if !valid_email(email) {
        return Err(AccountError::InvalidEmail);
    }
    limit(state, "resend", email, ip).await?;
    outbox::enqueue(
        &state.db,
        MailKind::VerifyEmail,
        email,
        json!({ "email": email }),
    )
    .await?;
    outbox::wake();
    Ok(())
}

/// Asks to move the account to `new_email`: after the current password, a verification link
/// goes to the new address and a notice to the old one. Nothing changes until the link is used.
pub async fn request_change(
    state: &Services,
    current: &Current,
    new_email: &str,
    current_password: &Password,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    super::require_mail(&state.accounts)?;
    let new_email = new_email.trim();
    if !valid_email(new_email) {
        return Err(AccountError::InvalidEmail);
    }
    if users::email_key(new_email) == users::email_key(&current.user.email) {
        return Err(AccountError::BadRequest(
            "this is already the account's address",
        ));
    }
    authentication::require_recent(state, current).await?;
    let ip = client.ip.as_deref();
    // Before the password check, so that a stolen session cannot mail any address at will.
    limit(state, "email-change", new_email, ip).await?;
    let user = authentication::confirm_password(state, current, current_password, client).await?;
    let txn = state.db.begin().await?;
    let params = json!({ "user_id": user.id, "email": new_email });
    outbox::enqueue(&txn, MailKind::VerifyEmail, new_email, params).await?;
    if !user.email.is_empty() {
        let params = json!({ "username": user.username, "new_email": new_email });
        outbox::enqueue(&txn, MailKind::EmailChangeRequested, &user.email, params).await?;
    }
    txn.commit().await?;
    outbox::wake();
    tracing::info!(target: "audit", event = "email_change_requested", user_id = %user.id, ip);
    Ok(())
}

/// Mail-sending requests per address and per client IP.
pub(super) async fn limit(
    state: &Services,
    scope: &str,
    email: &str,
    ip: Option<&str>,
) -> Result<(), AccountError> {
    let s = &state.accounts.settings;
    match state
        .throttle
        .hit(scope, email, ip, s.mail_per_address, s.mail_per_ip)
        .await?
    {
        Some(retry_after) => Err(AccountError::Throttled { retry_after }),
        None => Ok(()),
    }
}
