//! Passkeys: registering, listing, renaming and removing them, and logging in with one.
//! Using one as the second step or to re-authenticate goes through the second-factor
//! operations, with the options from `passkeyProofOptions`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{SessionError, Tag, Text, User, client_info};
use crate::{
    http::errors::{ApiError, api_errors},
    http::extractors::{AnySessionAuth, SessionAuth, session_token},
    http::json::DirectJson,
    http::state::AppState,
    passkeys::{self, Answer},
};

/// WebAuthn's JSON, as the browser gives and takes it: free-form here, checked by the server.
pub type WebAuthnJson = BTreeMap<String, serde_json::Value>;

/// One of the user's passkeys. Never carries the key.
#[derive(Debug, Object)]
pub struct PasskeyInfo {
    /// Public identifier, for renaming and removing it.
    pub id: Uuid,
    /// What the user called it.
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When it last logged in or proved its user; `null` if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<entity::passkey::Model> for PasskeyInfo {
    fn from(p: entity::passkey::Model) -> Self {
        PasskeyInfo {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// The options of a ceremony, for `navigator.credentials.create()` or `.get()`, and the id to
/// send back with the authenticator's answer.
#[derive(Debug, Object)]
pub struct PasskeyOptions {
    /// Good once, for `SPA_AUTH_PASSKEY_CHALLENGE_TIMEOUT` (5 minutes by default).
    pub ceremony_id: Uuid,
    /// WebAuthn's options as JSON, `{"publicKey": {...}}`: give `publicKey` to
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` (registration) or
    /// `parseRequestOptionsFromJSON` (everything else).
    pub options: WebAuthnJson,
}

impl From<passkeys::Options> for PasskeyOptions {
    fn from(o: passkeys::Options) -> Self {
        let options = match o.options {
            serde_json::Value::Object(map) => map.into_iter().collect(),
            _ => WebAuthnJson::new(),
        };
        PasskeyOptions {
            ceremony_id: o.ceremony_id,
            options,
        }
    }
}

/// The authenticator's answer to a ceremony.
#[derive(Debug, Object)]
pub struct PasskeyAnswer {
    /// The `ceremony_id` the options came with.
    pub ceremony_id: Uuid,
    /// The browser's `credential.toJSON()`.
    pub credential: WebAuthnJson,
}

impl From<PasskeyAnswer> for Answer {
    fn from(a: PasskeyAnswer) -> Self {
        Answer {
            ceremony_id: a.ceremony_id,
            credential: serde_json::Value::Object(a.credential.into_iter().collect()),
        }
    }
}

/// A new passkey: the authenticator's answer to the registration options, and a name.
#[derive(Debug, Object)]
pub struct NewPasskey {
    /// The `ceremony_id` the options came with.
    pub ceremony_id: Uuid,
    /// The browser's `credential.toJSON()`.
    pub credential: WebAuthnJson,
    /// What to call it, 1 to 64 characters; `Passkey` if left out.
    #[oai(validator(max_length = 256))]
    pub name: Option<Text>,
}

#[derive(Debug, Object)]
pub struct PasskeyName {
    /// 1 to 64 characters.
    #[oai(validator(max_length = 256))]
    pub name: Text,
}

#[derive(Debug, ApiResponse)]
pub enum PasskeysOk {
    /// The user's passkeys, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<PasskeyInfo>>),
}

#[derive(Debug, ApiResponse)]
pub enum OptionsOk {
    /// The options, and the ceremony they belong to.
    #[oai(status = 200)]
    Ok(Json<PasskeyOptions>),
}

#[derive(Debug, ApiResponse)]
pub enum Registered {
    /// The passkey is registered: from now on a password login asks for it (or another second
    /// factor) and it can log in without a password.
    #[oai(status = 201)]
    Created(Json<PasskeyInfo>),
}

#[derive(Debug, ApiResponse)]
pub enum Renamed {
    /// The passkey under its new name.
    #[oai(status = 200)]
    Ok(Json<PasskeyInfo>),
}

#[derive(Debug, ApiResponse)]
pub enum Removed {
    /// The passkey is gone, and every session of the user has ended, this one too.
    #[oai(status = 204)]
    Removed(
        /// Clears the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum PasskeyLoginOk {
    /// Logged in. `Set-Cookie` carries a brand-new session; any session the client brought
    /// has been ended.
    #[oai(status = 200)]
    Ok(
        DirectJson<User>,
        /// The HttpOnly session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of starting a passkey registration.
    RegistrationOptionsError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "The session's last proof of identity is older than the reauth window (`reauthentication_required`), no passkeys on this server (`not_enabled`: no `SPA_AUTH_PUBLIC_URL`), or a cross-site request from a browser (`csrf_rejected`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of registering a passkey.
    RegisterError {
        plain: [
            400 BadRequest "Malformed body, a credential that is not a WebAuthn registration or does not verify, or a bad name (`bad_request`); a ceremony that is unknown, expired, already used or begun by another session (`invalid_challenge`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "No passkeys on this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            409 Conflict "The passkey is already registered (`conflict`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of renaming a passkey.
    RenameError {
        plain: [
            400 BadRequest "Malformed body or id, or a bad name (`bad_request`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
            404 NotFound "No such passkey among the user's own (`not_found`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of removing a passkey.
    RemoveError {
        plain: [
            400 BadRequest "The id is not a UUID (`bad_request`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "The session's last proof of identity is older than the reauth window (`reauthentication_required`), or a cross-site request from a browser (`csrf_rejected`).",
            404 NotFound "No such passkey among the user's own (`not_found`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of starting a passkey proof.
    ProofOptionsError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`).",
            403 Forbidden "No passkeys on this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            409 Conflict "The account has no passkey (`conflict`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of starting a passwordless login.
    LoginOptionsError {
        plain: [
            403 Forbidden "No passkeys on this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of a passwordless login.
    PasskeyLoginError {
        plain: [
            400 BadRequest "Malformed body, a credential that is not a WebAuthn assertion, or `remember` is not `true` or `false` (`bad_request`); a ceremony that is unknown, expired or already used (`invalid_challenge`).",
            401 Unauthorized "An unknown passkey, one that does not verify, or an inactive account (`invalid_credentials`), or an account whose address must be verified first (`email_not_verified`, with `SPA_AUTH_REQUIRE_VERIFIED_EMAIL`).",
            403 Forbidden "No passkeys on this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many failed logins for this account or address (`too_many_requests`).",
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Default)]
pub struct PasskeyApi;

#[OpenApi]
impl PasskeyApi {
    /// My passkeys
    ///
    /// The passkeys registered to the account, oldest first.
    #[oai(path = "/api/auth/passkeys", method = "get", tag = "Tag::Passkeys")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<PasskeysOk, SessionError> {
        let rows = passkeys::list(&state.db, auth.current.user.id)
            .await
            .map_err(ApiError::from)?;
        Ok(PasskeysOk::Ok(Json(
            rows.into_iter().map(Into::into).collect(),
        )))
    }

    /// Start registering a passkey
    ///
    /// Options for `navigator.credentials.create()`; send its answer to `registerPasskey`.
    /// Step-up: needs a recent login.
    #[oai(
        path = "/api/auth/passkeys/options",
        method = "post",
        tag = "Tag::Passkeys"
    )]
    async fn registration_options(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<OptionsOk, RegistrationOptionsError> {
        let options = passkeys::begin_registration(&state, &auth.current)
            .await
            .map_err(ApiError::from)?;
        Ok(OptionsOk::Ok(Json(options.into())))
    }

    /// Register a passkey
    ///
    /// The authenticator's answer to `passkeyRegistrationOptions`, from the session that
    /// asked for them.
    #[oai(path = "/api/auth/passkeys", method = "post", tag = "Tag::Passkeys")]
    async fn register(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: Json<NewPasskey>,
    ) -> Result<Registered, RegisterError> {
        let NewPasskey {
            ceremony_id,
            credential,
            name,
        } = body.0;
        let answer = PasskeyAnswer {
            ceremony_id,
            credential,
        }
        .into();
        let name = name.map(|n| n.0);
        let row = passkeys::register(&state, &auth.current, &answer, name.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(Registered::Created(Json(row.into())))
    }

    /// Rename a passkey
    ///
    /// Gives one of the account's passkeys a new name (1 to 64 characters), to tell them apart.
    #[oai(
        path = "/api/auth/passkeys/:id",
        method = "patch",
        tag = "Tag::Passkeys"
    )]
    async fn rename(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// The passkey's id, from the list.
        id: Path<Uuid>,
        body: Json<PasskeyName>,
    ) -> Result<Renamed, RenameError> {
        let row = passkeys::rename(&state, &auth.current, id.0, &body.0.name.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Renamed::Ok(Json(row.into())))
    }

    /// Remove a passkey
    ///
    /// Removes it and ends every session of the user, this one too, as turning TOTP off does.
    /// Step-up: needs a recent login.
    #[oai(
        path = "/api/auth/passkeys/:id",
        method = "delete",
        tag = "Tag::Passkeys"
    )]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// The passkey's id, from the list.
        id: Path<Uuid>,
    ) -> Result<Removed, RemoveError> {
        passkeys::remove(&state, &auth.current, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Removed::Removed(state.sessions.clear_cookie()))
    }

    /// Start proving who I am with a passkey
    ///
    /// Options for `navigator.credentials.get()` that only the account's own passkeys can
    /// answer: for the second step of a login (with the cookie of the half-open session) or
    /// for re-authentication. Send the answer as `passkey` to `completeSecondFactor` or
    /// `reauthenticate`.
    #[oai(
        path = "/api/auth/passkey/proof-options",
        method = "post",
        tag = "Tag::Passkeys"
    )]
    async fn proof_options(
        &self,
        state: Data<&AppState>,
        auth: AnySessionAuth,
    ) -> Result<OptionsOk, ProofOptionsError> {
        let options = passkeys::begin_proof(&state, &auth.current)
            .await
            .map_err(ApiError::from)?;
        Ok(OptionsOk::Ok(Json(options.into())))
    }

    /// Start a passwordless login
    ///
    /// Options for `navigator.credentials.get()` naming no account: the authenticator offers
    /// the passkeys it holds for this site. Send its answer to `passkeyLogin`.
    #[oai(
        path = "/api/auth/passkey/options",
        method = "post",
        tag = "Tag::Passkeys"
    )]
    async fn login_options(&self, state: Data<&AppState>) -> Result<OptionsOk, LoginOptionsError> {
        let options = passkeys::begin_login(&state)
            .await
            .map_err(ApiError::from)?;
        Ok(OptionsOk::Ok(Json(options.into())))
    }

    /// Log in with a passkey
    ///
    /// The authenticator's answer to `passkeyLoginOptions`. Opens a full session (a passkey
    /// verified by its device is two factors), under the rules of a password login: throttled,
    /// inactive accounts refused, a verified address if the server requires one.
    #[oai(
        path = "/api/auth/passkey/login",
        method = "post",
        tag = "Tag::Passkeys"
    )]
    async fn login(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<PasskeyAnswer>,
        /// "Remember me", as for `login`.
        #[oai(default = "remember_by_default")]
        remember: Query<bool>,
    ) -> Result<PasskeyLoginOk, PasskeyLoginError> {
        Ok(login(req, &state, body.0, remember.0).await?)
    }
}

/// As for a password login.
fn remember_by_default() -> bool {
    true
}

async fn login(
    req: &Request,
    state: &AppState,
    body: PasskeyAnswer,
    remember: bool,
) -> Result<PasskeyLoginOk, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let brought = session_token(req, state.sessions.cookie_name());
    let opened = passkeys::log_in(state, &body.into(), &client, brought, remember).await?;
    let cookie = state.sessions.cookie(&opened.token, &opened.session);
    Ok(PasskeyLoginOk::Ok(DirectJson(opened.user.into()), cookie))
}
