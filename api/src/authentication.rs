//! The two sequences that check a password and open a session, each written once: logging in
//! and changing one's password. The HTTP handlers only translate to and from these.
//!
//! Both guard against what happens *between* reading a user and acting on what was read (the
//! password hash takes tens of milliseconds, a queue for a hashing slot longer):
//! - the throttle slot is reserved before any hashing ([`Throttle::reserve`]), so a burst of
//!   parallel guesses is held to the limit;
//! - the session is inserted in the same transaction as a compare-and-set on the user row
//!   (same epoch, same hash, still active), so a password change, deactivation or revocation
//!   that lands during the hash wins, and the login gets the same 401 as a wrong password;
//! - a rehash is part of that compare-and-set, so it never writes back a hash of an old
//!   password over a new one.

use entity::{session, user};
use sea_orm::{DbErr, TransactionTrait};
use uuid::Uuid;

use crate::{
    mail,
    passwords::{Password, PasswordError, PasswordRejected, check_new_password},
    services::Services,
    sessions::{self, ClientInfo, Current, Reason, Recent, SessionError, Stage, Token, Which},
    telemetry::metrics::{Login, METRICS},
    throttle::{Admission, Reservation},
    users,
};

/// Why a login or password change did not open a session.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong password, unknown or inactive user, or a login that lost a race with a change to
    /// the account: one answer for all, so that none can be told apart.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the current password is wrong")]
    WrongPassword,
    /// The right password, but the address is not verified and the server requires it
    /// (`SPA_AUTH_REQUIRE_VERIFIED_EMAIL`). Only ever after the right password, so it tells
    /// nobody but the account's owner anything.
    #[error(
        "the email address is not verified yet: follow the link mailed to it, or ask for a new one"
    )]
    EmailNotVerified,
    /// The session the change came with was ended meanwhile (by that very change, say).
    #[error("authentication required")]
    SessionEnded,
    #[error("too many failed attempts; retry after {retry_after} seconds")]
    Throttled { retry_after: u64 },
    /// A step-up operation from a session that last proved its user too long ago.
    #[error("this operation needs a recent login: re-authenticate first")]
    ReauthenticationRequired,
    /// A password change kept finding the account changed under it.
    #[error("the account kept changing; retry")]
    Contended,
    #[error(transparent)]
    Rejected(#[from] PasswordRejected),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A session opened by a successful login or password change.
#[derive(Debug)]
pub struct Opened {
    pub user: user::Model,
    pub token: Token,
    pub session: session::Model,
}

/// Logs `username` in with `password`: a new session, or the error to answer with.
/// `brought` is the session cookie the client came with, if any; it is ended, never adopted.
/// `remember`: whether the session outlives the browser ([`session::Model::persistent`]).
pub async fn log_in(
    state: &Services,
    username: &str,
    password: &Password,
    client: &ClientInfo,
    brought: Option<Token>,
    remember: bool,
) -> Result<Opened, AuthError> {
    let ip = client.ip.as_deref();
    let reservation = admit(state, username, ip, Credential::Password).await?;
    let checked = check_and_open(state, username, password, client, remember).await;
    settle(
        state,
        reservation,
        Credential::Password,
        ip,
        brought,
        checked,
    )
    .await
}

/// The credential a login attempt came with: what its audit events are called, and whether
/// checking it takes a hashing slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    Password,
    Passkey,
}

impl Credential {
    fn succeeded(self) -> &'static str {
        match self {
            Credential::Password => "login_succeeded",
            Credential::Passkey => "passkey_login_succeeded",
        }
    }

    fn failed(self) -> &'static str {
        match self {
            Credential::Password => "login_failed",
            Credential::Passkey => "passkey_login_failed",
        }
    }
}

/// What checking a credential concluded. The credential's own module decides
/// ([`check_and_open`] here, `passkeys::log_in`); [`settle`] acts on it, alike for all.
pub(crate) enum Checked {
    /// The credential was right and the session is committed.
    Opened(Box<Opened>),
    /// The right credential, but the address is not verified and the server requires it.
    Unverified { user_id: Uuid },
    /// A wrong credential, an unknown or inactive user, or (`raced`) a user that changed while
    /// the credential was being checked.
    Refused { user_id: Option<Uuid>, raced: bool },
}

/// The end of every login attempt, whatever the credential, so that a password and a passkey
/// count alike against the account's throttle and leave the same audit trail. A check that
/// could not conclude (no hashing slot, a database error) gives its slot back: it was not a
/// guess, and a dropped reservation would count as a failed one.
pub(crate) async fn settle<E: From<AuthError>>(
    state: &Services,
    reservation: Reservation,
    credential: Credential,
    ip: Option<&str>,
    brought: Option<Token>,
    checked: Result<Checked, E>,
) -> Result<Opened, E> {
    match checked {
        Ok(Checked::Opened(opened)) => {
            let opened = *opened;
            state
                .throttle
                .succeeded(reservation)
                .await
                .map_err(AuthError::from)?;
            // After the commit: the new session is already safe whatever happens to the old.
            if let Some(old) = brought {
                state
                    .sessions
                    .end_by_token(&old, Reason::Replaced)
                    .await
                    .map_err(AuthError::from)?;
            }
            METRICS.sessions_created(1);
            METRICS.login(Login::Ok);
            let (user_id, session_id) = (opened.user.id, opened.session.id);
            let event = credential.succeeded();
            tracing::info!(target: "audit", event, %user_id, %session_id, ip);
            Ok(opened)
        }
        Ok(Checked::Unverified { user_id }) => {
            // The right credential: the counters clear as for a success, no session opens.
            state
                .throttle
                .succeeded(reservation)
                .await
                .map_err(AuthError::from)?;
            tracing::info!(target: "audit", event = "login_unverified_email", %user_id, ip);
            Err(AuthError::EmailNotVerified.into())
        }
        Ok(Checked::Refused { user_id, raced }) => {
            state.throttle.failed(reservation);
            METRICS.login(Login::Failed);
            let user_id = user_id.map(|id| id.to_string());
            let event = credential.failed();
            tracing::info!(target: "audit", event, user_id, ip, raced);
            Err(AuthError::InvalidCredentials.into())
        }
        Err(e) => {
            state.throttle.release(reservation);
            Err(e)
        }
    }
}

async fn check_and_open(
    state: &Services,
    username: &str,
    password: &Password,
    client: &ClientInfo,
    remember: bool,
) -> Result<Checked, AuthError> {
    let found = users::find_by_username(&state.db, username).await?;
    // Unknown, inactive and password-less accounts verify against a dummy hash: a failed
    // login costs the same whatever the reason, so timing does not reveal which accounts exist.
    let stored = found
        .as_ref()
        .filter(|u| u.is_active)
        .and_then(|u| u.password_hash.as_deref());
    let verified = state.passwords.verify(password, stored, username).await?;
    let user = match found {
        Some(user) if user.is_active && verified.ok => user,
        other => {
            return Ok(Checked::Refused {
                user_id: other.map(|u| u.id),
                raced: false,
            });
        }
    };
    let user_id = user.id;
    if state.accounts.settings.require_verified_email && user.email_verified_at.is_none() {
        return Ok(Checked::Unverified { user_id });
    }
    let new_hash = match verified.needs_rehash {
        // The rehash is an upgrade, not a condition of logging in: with every hashing slot
        // taken it waits for the next login.
        true => match state.passwords.hash(password).await {
            Ok(hash) => Some(hash),
            Err(e) => {
                tracing::warn!(%user_id, error = %e, "rehash postponed");
                None
            }
        },
        false => None,
    };
    let txn = state.db.begin().await?;
    let Some(user) = users::record_login_if_unchanged(&txn, user, new_hash).await? else {
        txn.rollback().await?;
        return Ok(Checked::Refused {
            user_id: Some(user_id),
            raced: true,
        });
    };
    // Under the user's row lock (taken by the compare-and-set above): a TOTP confirmed or
    // removed concurrently is seen either before or after, never half.
    let stage = match has_second_factor(&txn, user.id).await? {
        true => Stage::AwaitingSecondFactor,
        false => Stage::Complete(sessions::methods::PASSWORD),
    };
    let (token, session) = state
        .sessions
        .create_in(&txn, user.id, client, remember, stage)
        .await?;
    txn.commit().await?;
    Ok(Checked::Opened(Box::new(Opened {
        user,
        token,
        session,
    })))
}

/// How often a password change starts over when the user's epoch moved under it (another
/// session logged out, a role changed) before it gives up with 503.
const CHANGE_ATTEMPTS: usize = 3;

/// Changes the password of the user whose session `current` is, after checking the current
/// password: every session of the user ends and the caller continues in a new one.
pub async fn change_password(
    state: &Services,
    current: &Current,
    current_password: &Password,
    new_password: &Password,
    client: &ClientInfo,
) -> Result<Opened, AuthError> {
    require_recent(state, current).await?;
    let ip = client.ip.as_deref();
    let reservation = admit(state, &current.user.username, ip, Credential::Password).await?;
    let result = replace_password(state, current, current_password, new_password, client).await;
    match &result {
        Ok(_) => state.throttle.succeeded(reservation).await?,
        Err(AuthError::WrongPassword) => {
            state.throttle.failed(reservation);
            let user_id = current.user.id;
            tracing::info!(target: "audit", event = "password_change_failed", %user_id, ip);
        }
        Err(_) => state.throttle.release(reservation),
    }
    let opened = result?;
    METRICS.sessions_created(1);
    let (user_id, session_id) = (opened.user.id, opened.session.id);
    tracing::info!(target: "audit", event = "password_changed", %user_id, %session_id, ip);
    Ok(opened)
}

async fn replace_password(
    state: &Services,
    current: &Current,
    current_password: &Password,
    new_password: &Password,
    client: &ClientInfo,
) -> Result<Opened, AuthError> {
    let mut new_hash = None;
    for _ in 0..CHANGE_ATTEMPTS {
        // Read afresh, not from the session cache: the check and the compare-and-set below
        // must be about the same row version.
        let user = users::find_by_id(&state.db, current.user.id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(AuthError::SessionEnded)?;
        let verified = state
            .passwords
            .verify(
                current_password,
                user.password_hash.as_deref(),
                &user.username,
            )
            .await?;
        if !verified.ok || user.password_hash.is_none() {
            return Err(AuthError::WrongPassword);
        }
        let hash = match &new_hash {
            Some(hash) => String::clone(hash),
            None => {
                check_new_password(new_password.expose(), &user.username)?;
                let hash = state.passwords.hash(new_password).await?;
                new_hash = Some(hash.clone());
                hash
            }
        };
        let txn = state.db.begin().await?;
        if !users::replace_password_hash_if_unchanged(&txn, &user, hash.clone()).await? {
            txn.rollback().await?;
            continue;
        }
        // Under the user's row lock: a revocation that committed first has taken this
        // session with it, and one that comes later waits and ends the session made here.
        if !sessions::exists(&txn, current.session.id).await? {
            txn.rollback().await?;
            return Err(AuthError::SessionEnded);
        }
        sessions::end_sessions(&txn, user.id, Which::All, Reason::PasswordChanged).await?;
        // The session continues under a new token, so it keeps what the user chose at login:
        // a password change on a shared computer must not turn into "remember me".
        let persistent = current.session.persistent;
        // The user proved the password just now, and the second factor, if any, at the
        // session's login: the new session carries both over.
        let methods = methods_of(&current.session);
        let (token, session) = state
            .sessions
            .create_in(&txn, user.id, client, persistent, Stage::Complete(methods))
            .await?;
        let notified = users::queue_password_changed(&txn, &user, state.accounts.mail).await?;
        txn.commit().await?;
        if notified {
            mail::outbox::wake();
        }
        // "Done" must mean the old cookies are refused everywhere, not just here.
        state.sessions.settle(user.id).await;
        let user = user::Model {
            password_hash: Some(hash),
            ..user
        };
        return Ok(Opened {
            user,
            token,
            session,
        });
    }
    Err(AuthError::Contended)
}

/// Checks the current password of the user whose session `current` is, before a sensitive
/// change other than the password itself (a new email address): throttled like a login, so
/// a stolen session cannot be used to guess the password. Returns the user as stored now.
pub async fn confirm_password(
    state: &Services,
    current: &Current,
    password: &Password,
    client: &ClientInfo,
) -> Result<user::Model, AuthError> {
    let ip = client.ip.as_deref();
    let reservation = admit(state, &current.user.username, ip, Credential::Password).await?;
    let result = async {
        let user = users::find_by_id(&state.db, current.user.id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(AuthError::SessionEnded)?;
        let stored = user.password_hash.as_deref();
        let verified = state
            .passwords
            .verify(password, stored, &user.username)
            .await?;
        match verified.ok && stored.is_some() {
            true => Ok(user),
            false => Err(AuthError::WrongPassword),
        }
    }
    .await;
    match &result {
        Ok(_) => state.throttle.succeeded(reservation).await?,
        Err(AuthError::WrongPassword) => {
            state.throttle.failed(reservation);
            let user_id = current.user.id;
            tracing::info!(target: "audit", event = "password_confirmation_failed", %user_id, ip);
        }
        Err(_) => state.throttle.release(reservation),
    }
    result
}

/// Refuses a step-up operation unless the session proved its user within the reauth window
/// (`SPA_AUTH_REAUTH_WINDOW`): at login, or with `/api/auth/reauthenticate`.
pub async fn require_recent(state: &Services, current: &Current) -> Result<(), AuthError> {
    match state.sessions.recent(current.session.id).await? {
        Recent::Yes => Ok(()),
        Recent::No => Err(AuthError::ReauthenticationRequired),
        Recent::Gone => Err(AuthError::SessionEnded),
    }
}

/// Whether the user has a confirmed second factor (TOTP or a passkey), so a login must stop
/// halfway.
async fn has_second_factor<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<bool, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let confirmed = entity::totp_secret::Entity::find_by_id(user_id)
        .filter(entity::totp_secret::Column::ConfirmedAt.is_not_null())
        .count(db)
        .await?;
    // Read here rather than through `passkeys`, which builds on this module.
    let passkeys = entity::passkey::Entity::find()
        .filter(entity::passkey::Column::UserId.eq(user_id))
        .count(db)
        .await?;
    Ok(confirmed + passkeys > 0)
}

/// The methods string of a session as one of the known constants.
fn methods_of(session: &session::Model) -> &'static str {
    use sessions::methods::*;
    [
        PASSWORD_TOTP,
        PASSWORD_RECOVERY_CODE,
        PASSWORD_PASSKEY,
        PASSKEY,
    ]
    .into_iter()
    .find(|m| *m == session.auth_methods)
    .unwrap_or(PASSWORD)
}

/// A throttle slot for this attempt, or 429; for a password, 503 at once when no hashing slot
/// is to be had anyway, so that a flood costs no database writes. `key` is the account's
/// username (its login counters, whatever the credential).
pub(crate) async fn admit(
    state: &Services,
    key: &str,
    ip: Option<&str>,
    credential: Credential,
) -> Result<Reservation, AuthError> {
    if credential == Credential::Password && !state.passwords.has_room() {
        return Err(PasswordError::Busy { retry_after: 1 }.into());
    }
    match state.throttle.reserve(key, ip).await? {
        Admission::Admitted(reservation) => Ok(reservation),
        Admission::Refused { retry_after } => {
            tracing::info!(target: "audit", event = "login_throttled", ip, retry_after);
            METRICS.login(Login::Throttled);
            Err(AuthError::Throttled { retry_after })
        }
    }
}
