//! Passkeys (WebAuthn): registering them, and using one to log in without a password, as the
//! second step of a password login, or to re-authenticate.
//!
//! Every use is a ceremony of two requests: the server makes a challenge (`*_options`), the
//! authenticator signs it, the server checks the answer. The server's half of the ceremony is
//! stored in the database ([`ceremony`]), so any instance can finish it; it is good once and
//! for `SPA_AUTH_PASSKEY_CHALLENGE_TIMEOUT`. The relying party is `SPA_AUTH_PUBLIC_URL`.
//!
//! Passkeys are asked for with user verification (a PIN or biometric on the device), so a
//! passkey alone is two factors: a passwordless login gives a full session, and a passkey
//! counts as the account's second factor after a password.

pub mod ceremony;

use chrono::Utc;
use entity::{passkey, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential,
};

use crate::{
    authentication::{self, AuthError, Checked, Credential, Opened},
    services::Services,
    sessions::{self, ClientInfo, Current, Reason, SessionError, Stage, Token, Which, methods},
    users,
};
use ceremony::Kind;

/// Longest name a passkey can be given.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys are not enabled on this server (it needs SPA_AUTH_PUBLIC_URL with a domain)")]
    NotEnabled,
    /// Unknown, expired, already used, or begun for something else or by another session.
    #[error("the passkey challenge is unknown, expired or already used: start again")]
    InvalidChallenge,
    /// The client's answer is not a WebAuthn credential at all; the message says why.
    #[error("{0}")]
    Malformed(String),
    #[error("no such passkey")]
    NotFound,
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("passkeys: {0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Options for the browser (`navigator.credentials.create` / `.get`, through
/// `PublicKeyCredential.parse*OptionsFromJSON`) and the ceremony they belong to.
#[derive(Debug)]
pub struct Options {
    pub ceremony_id: Uuid,
    /// WebAuthn's JSON: `{"publicKey": {...}}`.
    pub options: serde_json::Value,
}

/// The authenticator's answer to a ceremony: what the browser's `credential.toJSON()` gives.
#[derive(Debug)]
pub struct Answer {
    pub ceremony_id: Uuid,
    pub credential: serde_json::Value,
}

fn webauthn(state: &Services) -> Result<&webauthn_rs::Webauthn, PasskeyError> {
    state.passkeys.webauthn().ok_or(PasskeyError::NotEnabled)
}

/// The user's passkeys, oldest first.
pub async fn list<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Vec<passkey::Model>, DbErr> {
    passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .order_by_asc(passkey::Column::CreatedAt)
        .order_by_asc(passkey::Column::Id)
        .all(db)
        .await
}

/// Starts registering a passkey for the session's user. Step-up: a stolen session must not
/// be able to add a way in of its own.
pub async fn begin_registration(
    state: &Services,
    current: &Current,
) -> Result<Options, PasskeyError> {
    let webauthn = webauthn(state)?;
    authentication::require_recent(state, current).await?;
    let user = &current.user;
    let registered = list(&state.db, user.id).await?;
    // The authenticator refuses to make a second credential for an account it already has one of.
    let exclude = registered.iter().map(|p| p.credential_id.clone()).collect();
    let (options, verifier_state) = webauthn
        .start_passkey_registration(user.id, &user.username, &user.username, Some(exclude))
        .map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let mut options =
        serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    // Discoverable (a resident key), so that it can log in without a username: webauthn-rs
    // leaves that to the authenticator, and many would then make one that cannot.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|s| s.as_object_mut())
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    let ceremony_id = ceremony::begin(
        state,
        Kind::Register,
        Some(current.session.id),
        &verifier_state,
    )
    .await?;
    Ok(Options {
        ceremony_id,
        options,
    })
}

/// Finishes a registration begun by this session: the new passkey, under `name`.
pub async fn register(
    state: &Services,
    current: &Current,
    answer: &Answer,
    name: Option<&str>,
) -> Result<passkey::Model, PasskeyError> {
    let webauthn = webauthn(state)?;
    let name = valid_name(name.unwrap_or("Passkey"))?;
    let credential: RegisterPublicKeyCredential = parse(&answer.credential)?;
    let verifier_state: PasskeyRegistration = ceremony::take(
        state,
        answer.ceremony_id,
        Kind::Register,
        Some(current.session.id),
    )
    .await?;
    let key = webauthn
        .finish_passkey_registration(&credential, &verifier_state)
        .map_err(|e| PasskeyError::Malformed(format!("the passkey was not accepted: {e}")))?;
    let credential_id = key.cred_id().to_vec();
    let record = serde_json::to_string(&key).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let row = passkey::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(current.user.id),
        credential_id: Set(credential_id),
        name: Set(name),
        credential: Set(record),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
    };
    let row = match row.insert(&state.db).await {
        Ok(row) => row,
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Err(PasskeyError::Conflict("this passkey is already registered"));
        }
        Err(e) => return Err(e.into()),
    };
    let (user_id, passkey_id) = (current.user.id, row.id);
    tracing::info!(target: "audit", event = "passkey_registered", %user_id, %passkey_id);
    Ok(row)
}

/// Gives one of the user's passkeys a new name.
pub async fn rename(
    state: &Services,
    current: &Current,
    id: Uuid,
    name: &str,
) -> Result<passkey::Model, PasskeyError> {
    use sea_orm::sea_query::Expr;
    let name = valid_name(name)?;
    let updated = passkey::Entity::update_many()
        .col_expr(passkey::Column::Name, Expr::value(name))
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(current.user.id))
        .exec(&state.db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(PasskeyError::NotFound);
    }
    passkey::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(PasskeyError::NotFound)
}

/// Removes one of the user's passkeys (step-up) and, as turning TOTP off does, ends every
/// session of the user, this one included, through the one invalidation path: a session may
/// have been opened with that very passkey. Returns once every instance dropped them.
pub async fn remove(state: &Services, current: &Current, id: Uuid) -> Result<u64, PasskeyError> {
    authentication::require_recent(state, current).await?;
    let user_id = current.user.id;
    let txn = state.db.begin().await?;
    let deleted = passkey::Entity::delete_many()
        .filter(passkey::Column::Id.eq(id))
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        txn.rollback().await?;
        return Err(PasskeyError::NotFound);
    }
    let ended = sessions::end_sessions(&txn, user_id, Which::All, Reason::PasskeyRemoved).await?;
    txn.commit().await?;
    state.sessions.settle(user_id).await;
    tracing::info!(target: "audit", event = "passkey_removed", %user_id, passkey_id = %id);
    Ok(ended)
}

/// Options for the session's user to prove themselves with one of their passkeys: for the
/// second step of a login, or to re-authenticate.
pub async fn begin_proof(state: &Services, current: &Current) -> Result<Options, PasskeyError> {
    let webauthn = webauthn(state)?;
    let keys = stored_keys(&list(&state.db, current.user.id).await?)?;
    if keys.is_empty() {
        return Err(PasskeyError::Conflict("this account has no passkey"));
    }
    let (options, verifier_state) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let options =
        serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let ceremony_id = ceremony::begin(
        state,
        Kind::Prove,
        Some(current.session.id),
        &verifier_state,
    )
    .await?;
    Ok(Options {
        ceremony_id,
        options,
    })
}

/// Checks a passkey answer to a ceremony this session began with [`begin_proof`]: whether one
/// of the user's passkeys signed it. The caller throttles (a `false` is a failed attempt).
pub async fn prove(
    state: &Services,
    current: &Current,
    answer: &Answer,
) -> Result<bool, PasskeyError> {
    let webauthn = webauthn(state)?;
    let credential: PublicKeyCredential = parse(&answer.credential)?;
    let verifier_state: PasskeyAuthentication = ceremony::take(
        state,
        answer.ceremony_id,
        Kind::Prove,
        Some(current.session.id),
    )
    .await?;
    let Ok(result) = webauthn.finish_passkey_authentication(&credential, &verifier_state) else {
        return Ok(false);
    };
    // The passkey may have been removed since the options were made.
    let Some(row) = find(&state.db, current.user.id, result.cred_id()).await? else {
        return Ok(false);
    };
    record_use(&state.db, row, &result).await?;
    Ok(true)
}

/// Options for a passwordless login: no account named, the authenticator offers the
/// passkeys it holds for this site.
pub async fn begin_login(state: &Services) -> Result<Options, PasskeyError> {
    let webauthn = webauthn(state)?;
    let (options, verifier_state) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let mut options =
        serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    // webauthn-rs asks for conditional mediation (autofill); a button asks for the usual
    // dialog, which is what a client gets without it.
    if let Some(options) = options.as_object_mut() {
        options.remove("mediation");
    }
    let ceremony_id = ceremony::begin(state, Kind::Discover, None, &verifier_state).await?;
    Ok(Options {
        ceremony_id,
        options,
    })
}

/// A passwordless login: a full session, under the rules of a password login (throttled,
/// inactive accounts refused, a verified address when the server requires one).
pub async fn log_in(
    state: &Services,
    answer: &Answer,
    client: &ClientInfo,
    brought: Option<Token>,
    remember: bool,
) -> Result<Opened, PasskeyError> {
    let webauthn = webauthn(state)?;
    let credential: PublicKeyCredential = parse(&answer.credential)?;
    let verifier_state: DiscoverableAuthentication =
        ceremony::take(state, answer.ceremony_id, Kind::Discover, None).await?;
    let ip = client.ip.as_deref();
    // Whose passkey it claims to be; nothing is believed until the signature is checked.
    let claimed = webauthn
        .identify_discoverable_authentication(&credential)
        .ok()
        .map(|(user_id, credential_id)| (user_id, credential_id.to_vec()));
    let (user, row) = match claimed {
        Some((user_id, credential_id)) => {
            let user = users::find_by_id(&state.db, user_id).await?;
            let row = find(&state.db, user_id, &credential_id).await?;
            (user, row)
        }
        None => (None, None),
    };
    // The login counters of the account, so that passkey and password attempts add up.
    let key = user
        .as_ref()
        .map_or_else(|| "passkey:unknown".to_owned(), |u| u.username.clone());
    let reservation = authentication::admit(state, &key, ip, Credential::Passkey).await?;
    let checked = check_and_open(
        state,
        webauthn,
        (&credential, verifier_state),
        (user, row),
        client,
        remember,
    )
    .await;
    authentication::settle(
        state,
        reservation,
        Credential::Passkey,
        ip,
        brought,
        checked,
    )
    .await
}

/// The signature checked against the stored key and, if it holds, the session opened in the
/// same transaction as a password login's compare-and-set: a deactivation or revocation that
/// lands meanwhile wins.
async fn check_and_open(
    state: &Services,
    webauthn: &webauthn_rs::Webauthn,
    (credential, verifier_state): (&PublicKeyCredential, DiscoverableAuthentication),
    (user, row): (Option<user::Model>, Option<passkey::Model>),
    client: &ClientInfo,
    remember: bool,
) -> Result<Checked, PasskeyError> {
    let (user, row) = match (user, row) {
        (Some(user), Some(row)) if user.is_active => (user, row),
        (user, _) => {
            return Ok(Checked::Refused {
                user_id: user.map(|u| u.id),
                raced: false,
            });
        }
    };
    let user_id = user.id;
    let key = stored_key(&row)?;
    let Ok(result) =
        webauthn.finish_discoverable_authentication_v2(credential, verifier_state, &key)
    else {
        return Ok(Checked::Refused {
            user_id: Some(user_id),
            raced: false,
        });
    };
    if state.accounts.settings.require_verified_email && user.email_verified_at.is_none() {
        return Ok(Checked::Unverified { user_id });
    }
    let txn = state.db.begin().await?;
    let Some(user) = users::record_login_if_active(&txn, user).await? else {
        txn.rollback().await?;
        return Ok(Checked::Refused {
            user_id: Some(user_id),
            raced: true,
        });
    };
    record_use(&txn, row, &result).await?;
    let stage = Stage::Complete(methods::PASSKEY);
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

/// Whether the user has a passkey.
pub async fn has_any<C: sea_orm::ConnectionTrait>(db: &C, user_id: Uuid) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    let count = passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user_id))
        .count(db)
        .await?;
    Ok(count > 0)
}

/// Removes every passkey of the user, in the caller's transaction (the operator's reset).
pub async fn remove_all_in<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<u64, DbErr> {
    let res = passkey::Entity::delete_many()
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

async fn find<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    credential_id: &[u8],
) -> Result<Option<passkey::Model>, DbErr> {
    passkey::Entity::find()
        .filter(passkey::Column::CredentialId.eq(credential_id.to_vec()))
        .filter(passkey::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// Stores what a use changed (the signature counter, the backup flags) and when it was.
async fn record_use<C: sea_orm::ConnectionTrait>(
    db: &C,
    row: passkey::Model,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), PasskeyError> {
    let mut key = stored_key(&row)?;
    let mut update: passkey::ActiveModel = row.into();
    if key.update_credential(result) == Some(true) {
        let record =
            serde_json::to_string(&key).map_err(|e| PasskeyError::Internal(e.to_string()))?;
        update.credential = Set(record);
    }
    update.last_used_at = Set(Some(Utc::now()));
    update.update(db).await?;
    Ok(())
}

fn stored_key(row: &passkey::Model) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&row.credential).map_err(|e| PasskeyError::Internal(e.to_string()))
}

fn stored_keys(rows: &[passkey::Model]) -> Result<Vec<Passkey>, PasskeyError> {
    rows.iter().map(stored_key).collect()
}

/// The browser's JSON as webauthn-rs's type, or 400 with what is wrong.
fn parse<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, PasskeyError> {
    T::deserialize(value)
        .map_err(|e| PasskeyError::Malformed(format!("not a WebAuthn credential: {e}")))
}

fn valid_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(PasskeyError::Malformed(format!(
            "a passkey's name is 1 to {MAX_NAME_CHARS} characters, none of them control characters"
        )));
    }
    Ok(name.to_owned())
}
