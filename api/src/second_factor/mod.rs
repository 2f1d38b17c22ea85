//! Second factors: TOTP (RFC 6238) with single-use recovery codes, the second step of a login,
//! and re-authentication for step-up.
//!
//! A user with a confirmed TOTP who gives the right password gets a session that awaits its
//! second factor (`sessions::Stage::AwaitingSecondFactor`): every path that looks a session
//! up (`sessions::Sessions::find`) refuses it for anything but [`complete`]. Completing the
//! step keeps the session but gives it a new token, so a cookie seen before the second factor
//! is worth nothing after it.
//!
//! Codes are guesses like passwords: the second step and re-authentication reserve a slot in
//! the throttle before checking one (a key of their own, so that the right password, which
//! clears the login counters, does not clear these), and a TOTP code is good once: the step
//! it matched is written with a compare-and-set, so a replay, or two requests racing with one
//! code, pass at most once.

mod recovery;
mod totp;

use chrono::Utc;
use entity::{recovery_code, totp_secret};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};

pub use crate::second_factor_policy::{
    KeyError, Keys, SealError, SecondFactor, SecondFactorSettings, SecretKey, SettingsError,
};
pub use totp::Enrolment;

use crate::{
    authentication::{self, AuthError, Opened},
    passkeys::{self, Answer, PasskeyError},
    passwords::Password,
    services::Services,
    sessions::{self, ClientInfo, Current, Reason, SessionError, Which, methods},
    throttle::Admission,
};

/// How many recovery codes a user gets at once.
pub const RECOVERY_CODES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("TOTP is not enabled on this server (no SPA_AUTH_SECRET_KEY)")]
    NotEnabled,
    #[error("the code is wrong or was already used")]
    InvalidCode,
    /// What the request asks for does not fit the account's state; the message says why.
    #[error("{0}")]
    Conflict(&'static str),
    #[error("authentication required")]
    SessionEnded,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("too many failed attempts; retry after {retry_after} seconds")]
    Throttled { retry_after: u64 },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("TOTP: {0}")]
    Totp(String),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What the user gives for the second step.
#[derive(Debug)]
pub enum Proof {
    Totp(String),
    RecoveryCode(String),
    /// The answer to a ceremony begun with `passkeys::begin_proof`.
    Passkey(Answer),
}

/// The second factors a user has confirmed, in the order the login response lists them.
pub async fn methods_of<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: uuid::Uuid,
) -> Result<Vec<&'static str>, DbErr> {
    let totp = totp::confirmed(db, user_id).await?.is_some();
    let codes = recovery_codes_left(db, user_id).await?;
    let mut list = Vec::new();
    if totp {
        list.push("totp");
        // Recovery codes stand in for the authenticator only; without TOTP they guard nothing.
        if codes > 0 {
            list.push("recovery_code");
        }
    }
    if passkeys::has_any(db, user_id).await? {
        list.push("passkey");
    }
    Ok(list)
}

/// How many unused recovery codes the user has left.
pub async fn recovery_codes_left<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: uuid::Uuid,
) -> Result<u64, DbErr> {
    recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await
}

/// Completes the second step of `pending` (a session awaiting it, whose token the request
/// carried): the session continues, fully authenticated, under a new token.
pub async fn complete(
    state: &Services,
    pending: &Current,
    proof: &Proof,
    client: &ClientInfo,
) -> Result<Opened, SecondFactorError> {
    let user = &pending.user;
    let method = check_throttled(state, pending, proof, client).await?;
    let Some((token, session)) = state
        .sessions
        .complete_in(&state.db, &pending.session, method)
        .await?
    else {
        return Err(SecondFactorError::SessionEnded);
    };
    let (user_id, session_id, ip) = (user.id, session.id, client.ip.as_deref());
    tracing::info!(target: "audit", event = "second_factor_passed", %user_id, %session_id, method, ip);
    Ok(Opened {
        user: user.as_ref().clone(),
        token,
        session,
    })
}

/// Re-authentication: the password, and for a user with a second factor a code too; or a
/// passkey alone, which is two factors by itself (the device verified its user). Then the
/// session's `authenticated_at` is now, and step-up operations pass for the reauth window.
pub async fn reauthenticate(
    state: &Services,
    current: &Current,
    password: Option<&Password>,
    proof: Option<&Proof>,
    client: &ClientInfo,
) -> Result<(), SecondFactorError> {
    let user = match (password, proof) {
        (_, Some(proof @ Proof::Passkey(_))) => {
            check_throttled(state, current, proof, client).await?;
            (*current.user).clone()
        }
        (Some(password), proof) => {
            let user = authentication::confirm_password(state, current, password, client).await?;
            if !methods_of(&state.db, user.id).await?.is_empty() {
                let proof = proof.ok_or(SecondFactorError::Conflict(
                    "this account has a second factor: give `code`, `recovery_code` or `passkey` too",
                ))?;
                check_throttled(state, current, proof, client).await?;
            }
            user
        }
        (None, _) => {
            return Err(SecondFactorError::BadRequest(
                "give `password` (with a code if the account has a second factor) or `passkey`",
            ));
        }
    };
    if !state.sessions.reauthenticated(current.session.id).await? {
        return Err(SecondFactorError::SessionEnded);
    }
    let (user_id, ip) = (user.id, client.ip.as_deref());
    tracing::info!(target: "audit", event = "reauthenticated", %user_id, session_id = %current.session.id, ip);
    Ok(())
}

/// Refuses unless the session proved its user within the reauth window.
pub async fn require_recent(state: &Services, current: &Current) -> Result<(), SecondFactorError> {
    Ok(authentication::require_recent(state, current).await?)
}

/// Starts (or starts over) a TOTP enrolment: a new secret, not asked for at login until
/// [`confirm_totp`]. Step-up: a stolen session must not be able to lock the user out.
pub async fn enrol_totp(
    state: &Services,
    current: &Current,
) -> Result<Enrolment, SecondFactorError> {
    let keys = keys(state)?;
    require_recent(state, current).await?;
    totp::enrol(&state.db, keys, state.second_factor.issuer(), &current.user).await
}

/// Turns TOTP on with a code from the new authenticator; returns the recovery codes, shown
/// this once and stored only hashed.
pub async fn confirm_totp(
    state: &Services,
    current: &Current,
    code: &str,
) -> Result<Vec<String>, SecondFactorError> {
    let keys = keys(state)?;
    let txn = state.db.begin().await?;
    totp::confirm(&txn, keys, current.user.id, code).await?;
    let codes = recovery::replace(&txn, current.user.id).await?;
    txn.commit().await?;
    let user_id = current.user.id;
    tracing::info!(target: "audit", event = "totp_enabled", %user_id);
    Ok(codes)
}

/// Turns TOTP off (step-up) and ends every session of the user, this one included.
pub async fn disable_totp(state: &Services, current: &Current) -> Result<u64, SecondFactorError> {
    require_recent(state, current).await?;
    let user_id = current.user.id;
    if totp::confirmed(&state.db, user_id).await?.is_none() {
        return Err(SecondFactorError::Conflict(
            "TOTP is not on for this account",
        ));
    }
    let ended = remove_all(state, user_id, Reason::SecondFactorDisabled).await?;
    tracing::info!(target: "audit", event = "totp_disabled", %user_id);
    Ok(ended)
}

/// New recovery codes (step-up); the old ones stop working.
pub async fn regenerate_recovery_codes(
    state: &Services,
    current: &Current,
) -> Result<Vec<String>, SecondFactorError> {
    require_recent(state, current).await?;
    let user_id = current.user.id;
    let txn = state.db.begin().await?;
    if totp::confirmed(&txn, user_id).await?.is_none() {
        return Err(SecondFactorError::Conflict(
            "TOTP is not on for this account",
        ));
    }
    let codes = recovery::replace(&txn, user_id).await?;
    txn.commit().await?;
    tracing::info!(target: "audit", event = "recovery_codes_regenerated", %user_id);
    Ok(codes)
}

/// Removes the user's TOTP and recovery codes and ends every session through the one
/// invalidation path, in one transaction; returns once every instance dropped them. The
/// operator's `spa-auth user mfa reset` too, through [`reset`].
async fn remove_all(
    state: &Services,
    user_id: uuid::Uuid,
    reason: Reason,
) -> Result<u64, SecondFactorError> {
    let txn = state.db.begin().await?;
    let ended = remove_in(&txn, user_id, reason).await?;
    txn.commit().await?;
    state.sessions.settle(user_id).await;
    Ok(ended)
}

/// The operator's reset: the user's second factors (passkeys too) removed and their sessions
/// ended, in the caller's transaction; the caller waits for every instance
/// (`settle_everywhere`).
pub async fn reset(db: &sea_orm::DatabaseConnection, user_id: uuid::Uuid) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    passkeys::remove_all_in(&txn, user_id).await?;
    let ended = remove_in(&txn, user_id, Reason::SecondFactorReset).await?;
    txn.commit().await?;
    Ok(ended)
}

async fn remove_in<C: sea_orm::ConnectionTrait + TransactionTrait>(
    txn: &C,
    user_id: uuid::Uuid,
    reason: Reason,
) -> Result<u64, DbErr> {
    totp_secret::Entity::delete_by_id(user_id).exec(txn).await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    sessions::end_sessions(txn, user_id, Which::All, reason).await
}

/// Checks a code under the throttle; the method it proves.
async fn check_throttled(
    state: &Services,
    current: &Current,
    proof: &Proof,
    client: &ClientInfo,
) -> Result<&'static str, SecondFactorError> {
    let user = &current.user;
    let ip = client.ip.as_deref();
    // Counters of their own: the right password clears the login ones.
    let key = format!("second-factor:{}", user.id);
    let reservation = match state.throttle.reserve(&key, ip).await? {
        Admission::Admitted(reservation) => reservation,
        Admission::Refused { retry_after } => {
            tracing::info!(target: "audit", event = "second_factor_throttled", user_id = %user.id, ip, retry_after);
            return Err(SecondFactorError::Throttled { retry_after });
        }
    };
    let checked = match proof {
        Proof::Totp(code) => match keys(state) {
            Ok(keys) => totp::verify(&state.db, keys, user, code)
                .await
                .map(|ok| ok.then_some(methods::PASSWORD_TOTP)),
            Err(e) => Err(e),
        },
        Proof::RecoveryCode(code) => recovery::spend(&state.db, user.id, code)
            .await
            .map(|ok| ok.then_some(methods::PASSWORD_RECOVERY_CODE))
            .map_err(SecondFactorError::from),
        Proof::Passkey(answer) => passkeys::prove(state, current, answer)
            .await
            .map(|ok| ok.then_some(methods::PASSWORD_PASSKEY))
            .map_err(SecondFactorError::from),
    };
    match checked {
        Ok(Some(method)) => {
            state.throttle.succeeded(reservation).await?;
            Ok(method)
        }
        Ok(None) => {
            state.throttle.failed(reservation);
            tracing::info!(target: "audit", event = "second_factor_failed", user_id = %user.id, ip);
            Err(SecondFactorError::InvalidCode)
        }
        Err(e) => {
            state.throttle.release(reservation);
            Err(e)
        }
    }
}

/// The keys TOTP secrets are sealed with, or 403 `not_enabled` without them.
fn keys(state: &Services) -> Result<&Keys, SecondFactorError> {
    state
        .second_factor
        .keys()
        .ok_or(SecondFactorError::NotEnabled)
}

/// Seconds since the epoch, for TOTP steps.
fn unix_now() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}
