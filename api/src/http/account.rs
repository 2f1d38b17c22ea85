//! The user's own sessions and password.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use super::{SessionError, Tag, Text, client_info};
use crate::{
    authentication,
    http::errors::{ApiError, api_errors},
    http::extractors::SessionAuth,
    http::state::AppState,
    passwords::Password,
    sessions::{Reason, Which, device},
};

/// One of the user's sessions. Never carries the token or its hash.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SessionInfo {
    /// Public identifier, for ending this session.
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the session ends unless used before; it never outlives its absolute limit.
    pub expires_at: DateTime<Utc>,
    /// The `User-Agent` header of the login, as the browser sent it.
    // Absent rather than null: the spec says a string when present, as poem-openapi declares
    // an optional field (schemathesis holds the answers to that).
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// The browser and system of `user_agent` for people, e.g. "Chrome 156 on Linux"; absent
    /// when neither can be told from it (a script, a made-up header).
    #[oai(skip_serializing_if_is_none)]
    pub device: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    /// True for the session making this request.
    pub current: bool,
    /// False for a login without "remember me" (`?remember=false`): its cookie dies with the
    /// browser and it idles out sooner.
    pub persistent: bool,
}

#[derive(Debug, ApiResponse)]
pub enum SessionsOk {
    /// The user's live sessions, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<SessionInfo>>),
}

#[derive(Debug, ApiResponse)]
pub enum SessionEnded {
    /// The session has ended; its cookie no longer works anywhere.
    #[oai(status = 204)]
    Ended,
}

api_errors! {
    /// Errors of ending one session.
    EndSessionError {
        plain: [
            400 BadRequest "The id is not a UUID (`bad_request`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
            404 NotFound "No such session among the user's own (`not_found`); another user's session id answers the same.",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of ending the user's other sessions.
    EndOthersError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "The session's last proof of identity is older than the reauth window (`reauthentication_required`), or a cross-site request from a browser (`csrf_rejected`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct EndedSessions {
    /// How many sessions were ended.
    pub ended: u64,
}

#[derive(Debug, ApiResponse)]
pub enum OthersEnded {
    /// Every other session of the user has ended; this one stays.
    #[oai(status = 200)]
    Ok(Json<EndedSessions>),
}

/// A password change.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasswordChange {
    #[oai(validator(max_length = 1024))]
    pub current_password: Text,
    /// 8 to 1024 characters, not a common password, not the username.
    #[oai(validator(max_length = 1024))]
    pub new_password: Text,
}

#[derive(Debug, ApiResponse)]
pub enum PasswordChanged {
    /// Changed. Every other session has ended; this one continues under a new token, sent in
    /// `Set-Cookie`.
    #[oai(status = 204)]
    Changed(
        /// The rotated session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of a password change.
    PasswordError {
        plain: [
            400 BadRequest "Malformed body (`bad_request`), or a new password that breaks a rule (`password_rejected`, the message says which).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "Wrong current password (`wrong_current_password`), a last proof of identity older than the reauth window (`reauthentication_required`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many wrong passwords for this account or address (`too_many_requests`).",
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

impl poem_openapi::types::Example for SessionInfo {
    fn example() -> Self {
        let at = DateTime::UNIX_EPOCH;
        SessionInfo {
            id: Uuid::nil(),
            created_at: at,
            last_seen_at: at,
            expires_at: at + chrono::Duration::days(14),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
            device: Some("Firefox 140 on Linux".into()),
            ip: Some("192.0.2.10".into()),
            current: true,
            persistent: true,
        }
    }
}

impl poem_openapi::types::Example for EndedSessions {
    fn example() -> Self {
        EndedSessions { ended: 2 }
    }
}

/// A new address for the account.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EmailChange {
    #[oai(validator(max_length = 254))]
    pub new_email: Text,
    #[oai(validator(max_length = 1024))]
    pub current_password: Text,
}

impl poem_openapi::types::Example for EmailChange {
    fn example() -> Self {
        EmailChange {
            new_email: Text("alice@example.org".into()),
            current_password: Text("correct horse battery staple".into()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum EmailChangeRequested {
    /// A link to confirm the new address is on its way to it, and a notice to the old one.
    /// The address changes when the link is used.
    #[oai(status = 202)]
    Accepted,
}

api_errors! {
    /// Errors of an address change.
    EmailChangeError {
        plain: [
            400 BadRequest "Malformed body, or the address the account has already (`bad_request`), or an address mail cannot be sent to (`invalid_email`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "Wrong current password (`wrong_current_password`), a last proof of identity older than the reauth window (`reauthentication_required`), this server sends no mail (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many wrong passwords, or too many changes to this address or from this client (`too_many_requests`).",
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

impl poem_openapi::types::Example for PasswordChange {
    fn example() -> Self {
        PasswordChange {
            current_password: Text("correct horse battery staple".into()),
            new_password: Text("a longer passphrase nobody guesses".into()),
        }
    }
}

#[derive(Default)]
pub struct AccountApi;

#[OpenApi]
impl AccountApi {
    /// List my sessions
    ///
    /// Every live session of the logged-in user, with where and when it was used.
    #[oai(path = "/api/auth/sessions", method = "get", tag = "Tag::Account")]
    async fn list_sessions(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<SessionsOk, SessionError> {
        let me = &auth.current.session;
        let list = state
            .sessions
            .list_for_user(me.user_id)
            .await
            .map_err(ApiError::from)?;
        let infos = list
            .into_iter()
            .map(|s| SessionInfo {
                current: s.id == me.id,
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                device: s.user_agent.as_deref().and_then(device::describe),
                user_agent: s.user_agent,
                ip: s.ip,
                persistent: s.persistent,
            })
            .collect();
        Ok(SessionsOk::Ok(Json(infos)))
    }

    /// End one of my sessions
    ///
    /// Ends a session of the logged-in user, for example a lost phone's. Ending the current
    /// session works like logging out, without clearing the cookie.
    #[oai(
        path = "/api/auth/sessions/:id",
        method = "delete",
        tag = "Tag::Account"
    )]
    async fn end_session(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// The session's public id, from the session list.
        id: Path<Uuid>,
    ) -> Result<SessionEnded, EndSessionError> {
        let user_id = auth.current.session.user_id;
        // Scoped to the caller's own sessions: another user's id is simply not found.
        let ended = state
            .sessions
            .end(user_id, Which::One(id.0), Reason::EndedByUser)
            .await
            .map_err(ApiError::from)?;
        match ended {
            0 => Err(ApiError::NotFound.into()),
            _ => Ok(SessionEnded::Ended),
        }
    }

    /// End my other sessions
    ///
    /// "Log out everywhere else": ends every session of the logged-in user except this one.
    #[oai(path = "/api/auth/sessions", method = "delete", tag = "Tag::Account")]
    async fn end_other_sessions(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<OthersEnded, EndOthersError> {
        authentication::require_recent(&state, &auth.current)
            .await
            .map_err(ApiError::from)?;
        let me = &auth.current.session;
        let ended = state
            .sessions
            .end(me.user_id, Which::AllBut(me.id), Reason::LogoutEverywhere)
            .await
            .map_err(ApiError::from)?;
        Ok(OthersEnded::Ok(Json(EndedSessions { ended })))
    }

    /// Change my password
    ///
    /// Needs the current password. Every other session ends; this one continues under a new
    /// token. A wrong current password counts as a failed login for throttling.
    #[oai(path = "/api/auth/password", method = "post", tag = "Tag::Account")]
    async fn change_password(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: Json<PasswordChange>,
    ) -> Result<PasswordChanged, PasswordError> {
        Ok(change_password(req, &state, auth, body.0).await?)
    }

    /// Change my email address
    ///
    /// Needs the current password. Mails a link to the new address and a notice to the old
    /// one; the address changes when the link is used. A wrong current password counts as a
    /// failed login for throttling.
    #[oai(path = "/api/auth/email", method = "post", tag = "Tag::Account")]
    async fn change_email(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: Json<EmailChange>,
    ) -> Result<EmailChangeRequested, EmailChangeError> {
        Ok(change_email(req, &state, auth, body.0).await?)
    }
}

/// The body of `changeEmail`, handled by `accounts::email::request_change`.
async fn change_email(
    req: &Request,
    state: &AppState,
    auth: SessionAuth,
    body: EmailChange,
) -> Result<EmailChangeRequested, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let password = Password::new(body.current_password.0);
    crate::accounts::email::request_change(
        state,
        &auth.current,
        &body.new_email.0,
        &password,
        &client,
    )
    .await?;
    Ok(EmailChangeRequested::Accepted)
}

async fn change_password(
    req: &Request,
    state: &AppState,
    auth: SessionAuth,
    body: PasswordChange,
) -> Result<PasswordChanged, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let current = Password::new(body.current_password.0);
    let new = Password::new(body.new_password.0);
    let opened =
        authentication::change_password(state, &auth.current, &current, &new, &client).await?;
    Ok(PasswordChanged::Changed(
        state.sessions.cookie(&opened.token, &opened.session),
    ))
}
