//! The HTTP API, declared with poem-openapi: every operation, its security scheme and every
//! response it can send.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    errors::{ApiError, api_errors},
    metrics::{Login, METRICS},
    passwords::{MAX_LENGTH, Password, check_new_password},
    security::{BasicAuth, SessionAuth, session_token},
    sessions::{ClientInfo, Reason, Which},
    startup::AppState,
    users::{self, User},
};

#[derive(Tags)]
enum Tag {
    /// Logging in and out, and who is logged in.
    Auth,
    /// The user's own sessions and password.
    Account,
    /// Health of the service.
    Health,
}

#[derive(Debug, ApiResponse)]
pub enum LoginOk {
    /// Logged in. `Set-Cookie` carries a brand-new session; any session the client brought
    /// has been ended.
    #[oai(status = 200)]
    Ok(
        Json<User>,
        /// The HttpOnly session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of login.
    LoginError {
        plain: [
            400 BadRequest "The Authorization header is not valid HTTP Basic (`bad_request`).",
            401 Unauthorized "No credentials (`not_authenticated`), or wrong username or password, or an inactive account (`invalid_credentials`). Never carries `WWW-Authenticate`, so browsers show no pop-up.",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
        ],
        retry: [
            429 TooManyRequests "Too many failed logins for this account or address (`too_many_requests`); `Retry-After` says when to try again.",
            503 Unavailable "Too many logins waiting for a password check, or the database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Debug, ApiResponse)]
pub enum MeOk {
    /// The logged-in user.
    #[oai(status = 200)]
    Ok(
        Json<User>,
        /// Sent when this request extended the session's idle lifetime.
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum LoggedOut {
    /// Logged out: the session is ended on the server and the cookie cleared.
    #[oai(status = 204)]
    LoggedOut(
        /// Clears the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of reading with a session.
    SessionError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`). The response clears the cookie.",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of changing state with a session.
    SessionChangeError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`). The response clears the cookie.",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

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
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// True for the session making this request.
    pub current: bool,
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
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`). The response clears the cookie.",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
            404 NotFound "No such session among the user's own (`not_found`); another user's session id answers the same.",
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

/// A JSON string and nothing else. poem-openapi's `String` also takes numbers and booleans
/// and turns them into text, which for a password would mean `12345678901` becoming a
/// password the user never typed as one.
#[derive(Clone)]
pub struct Text(pub String);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only ever carries passwords: never shown.
        f.write_str("Text(***)")
    }
}

impl poem_openapi::types::Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> std::borrow::Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        <String as poem_openapi::types::Type>::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl poem_openapi::types::ParseFromJSON for Text {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) => Ok(Text(s)),
            other => Err(poem_openapi::types::ParseError::expected_type(
                other.unwrap_or_default(),
            )),
        }
    }
}

impl poem_openapi::types::ToJSON for Text {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
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
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`). The response clears the cookie.",
            403 Forbidden "Wrong current password (`wrong_current_password`), or a cross-site request from a browser (`csrf_rejected`).",
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

#[derive(Debug, Object)]
#[oai(example)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
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
            ip: Some("192.0.2.10".into()),
            current: true,
        }
    }
}

impl poem_openapi::types::Example for EndedSessions {
    fn example() -> Self {
        EndedSessions { ended: 2 }
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

impl poem_openapi::types::Example for Health {
    fn example() -> Self {
        Health {
            status: "ok".into(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum HealthOk {
    /// The service and its database answer.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

api_errors! {
    /// Errors of the health check.
    HealthError {
        plain: [],
        retry: [
            503 Unavailable "The database does not answer (`unavailable`).",
        ],
    }
}

/// Who made the request, for the session record, throttling and the audit log.
pub fn client_info(req: &Request, trust_proxy: bool) -> ClientInfo {
    let forwarded = trust_proxy
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok())
        .flatten()
        // The last entry is the one our own proxy appended; earlier ones are client claims.
        .and_then(|v| v.rsplit(',').next())
        .map(|ip| ip.trim().to_owned())
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    let ip = forwarded.or_else(|| {
        req.remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
    });
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    ClientInfo { user_agent, ip }
}

pub struct AuthApi;

#[OpenApi]
impl AuthApi {
    /// Log in
    ///
    /// Checks the HTTP Basic credentials and opens a new server-side session, sent back as an
    /// HttpOnly cookie. A failed login answers 401 without `WWW-Authenticate`.
    #[oai(
        path = "/api/auth/login",
        method = "post",
        operation_id = "login",
        tag = "Tag::Auth"
    )]
    async fn login(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: BasicAuth,
    ) -> Result<LoginOk, LoginError> {
        Ok(login(req, &state, auth).await?)
    }

    /// Who is logged in
    ///
    /// The user of the session the cookie names, with their current roles.
    #[oai(
        path = "/api/me",
        method = "get",
        operation_id = "getMe",
        tag = "Tag::Auth"
    )]
    async fn me(&self, state: Data<&AppState>, auth: SessionAuth) -> Result<MeOk, SessionError> {
        let SessionAuth { current, token } = auth;
        let cookie = current
            .renewed
            .then(|| state.sessions.cookie(&token, current.session.expires_at));
        Ok(MeOk::Ok(Json(current.user.into()), cookie))
    }

    /// Log out
    ///
    /// Ends the session on the server, so a copied cookie is dead too, and clears the cookie.
    #[oai(
        path = "/api/auth/logout",
        method = "post",
        operation_id = "logout",
        tag = "Tag::Auth"
    )]
    async fn logout(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<LoggedOut, SessionChangeError> {
        let session = &auth.current.session;
        state
            .sessions
            .end(session.user_id, Which::One(session.id), Reason::Logout)
            .await
            .map_err(ApiError::from)?;
        let ip = client_info(req, state.trust_proxy).ip;
        tracing::info!(target: "audit", event = "logout", user_id = %session.user_id, session_id = %session.id, ip);
        Ok(LoggedOut::LoggedOut(state.sessions.clear_cookie()))
    }

    /// List my sessions
    ///
    /// Every live session of the logged-in user, with where and when it was used.
    #[oai(
        path = "/api/auth/sessions",
        method = "get",
        operation_id = "listSessions",
        tag = "Tag::Account"
    )]
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
                user_agent: s.user_agent,
                ip: s.ip,
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
        operation_id = "endSession",
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
    #[oai(
        path = "/api/auth/sessions",
        method = "delete",
        operation_id = "endOtherSessions",
        tag = "Tag::Account"
    )]
    async fn end_other_sessions(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<OthersEnded, SessionChangeError> {
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
    #[oai(
        path = "/api/auth/password",
        method = "post",
        operation_id = "changePassword",
        tag = "Tag::Account"
    )]
    async fn change_password(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: Json<PasswordChange>,
    ) -> Result<PasswordChanged, PasswordError> {
        Ok(change_password(req, &state, auth, body.0).await?)
    }
}

async fn login(req: &Request, state: &AppState, auth: BasicAuth) -> Result<LoginOk, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let ip = client.ip.as_deref();
    refuse_if_throttled(state, &auth.username, ip).await?;
    let found = users::find_by_username(&state.db, &auth.username).await?;
    // Unknown, inactive and password-less accounts verify against a dummy hash: a failed
    // login costs the same whatever the reason, so timing does not reveal which accounts exist.
    let stored = found
        .as_ref()
        .filter(|u| u.is_active)
        .and_then(|u| u.password_hash.as_deref());
    let verified = state.passwords.verify(&auth.password, stored).await?;
    let user = match found {
        Some(user) if user.is_active && verified.ok => user,
        other => {
            state.throttle.record_failure(&auth.username, ip).await?;
            METRICS.login(Login::Failed);
            tracing::info!(
                target: "audit",
                event = "login_failed",
                user_id = other.map(|u| u.id.to_string()),
                ip
            );
            return Err(ApiError::InvalidCredentials);
        }
    };
    state.throttle.record_success(&auth.username, ip).await?;
    let new_hash = match verified.needs_rehash {
        true => Some(state.passwords.hash(&auth.password).await?),
        false => None,
    };
    // No session fixation: whatever session the client brings is ended, never adopted.
    if let Some(old) = session_token(req, state.sessions.cookie_name()) {
        state.sessions.end_by_token(&old, Reason::Replaced).await?;
    }
    let user = users::record_login(&state.db, user, new_hash).await?;
    let (token, session) = state.sessions.create(user.id, &client).await?;
    METRICS.login(Login::Ok);
    tracing::info!(target: "audit", event = "login_succeeded", user_id = %user.id, session_id = %session.id, ip);
    let cookie = state.sessions.cookie(&token, session.expires_at);
    Ok(LoginOk::Ok(Json(user.into()), cookie))
}

/// 429 when this username or address has failed too often; checked before any password work.
async fn refuse_if_throttled(
    state: &AppState,
    username: &str,
    ip: Option<&str>,
) -> Result<(), ApiError> {
    match state.throttle.check(username, ip).await? {
        Some(retry_after) => {
            tracing::info!(target: "audit", event = "login_throttled", ip, retry_after);
            METRICS.login(Login::Throttled);
            Err(ApiError::TooManyRequests { retry_after })
        }
        None => Ok(()),
    }
}

async fn change_password(
    req: &Request,
    state: &AppState,
    auth: SessionAuth,
    body: PasswordChange,
) -> Result<PasswordChanged, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let ip = client.ip.as_deref();
    let user = auth.current.user;
    refuse_if_throttled(state, &user.username, ip).await?;
    let current = Password::new(body.current_password.0);
    let verified = state
        .passwords
        .verify(&current, user.password_hash.as_deref())
        .await?;
    if !verified.ok {
        state.throttle.record_failure(&user.username, ip).await?;
        tracing::info!(target: "audit", event = "password_change_failed", user_id = %user.id, ip);
        return Err(ApiError::WrongPassword);
    }
    if body.new_password.0.chars().count() > MAX_LENGTH {
        return Err(crate::passwords::PasswordRejected::TooLong.into());
    }
    check_new_password(&body.new_password.0, &user.username)?;
    let hash = state
        .passwords
        .hash(&Password::new(body.new_password.0))
        .await?;
    let (user_id, username) = (user.id, user.username.clone());
    users::set_password_hash(&state.db, user, hash).await?;
    state.sessions.forget_user(user_id);
    state.throttle.record_success(&username, ip).await?;
    let (token, session) = state.sessions.create(user_id, &client).await?;
    tracing::info!(target: "audit", event = "password_changed", %user_id, session_id = %session.id, ip);
    Ok(PasswordChanged::Changed(
        state.sessions.cookie(&token, session.expires_at),
    ))
}

pub struct HealthApi;

#[OpenApi]
impl HealthApi {
    /// Health check
    ///
    /// 200 while the database answers, 503 when it does not. For load balancers. It reports
    /// what the instance's background poll of the database last saw (every 50 ms by
    /// default), so the check itself costs no database work.
    #[oai(
        path = "/healthz",
        method = "get",
        operation_id = "getHealth",
        tag = "Tag::Health"
    )]
    async fn healthz(&self, state: Data<&AppState>) -> Result<HealthOk, HealthError> {
        if !state.health.is_up() {
            return Err(ApiError::Unavailable.into());
        }
        Ok(HealthOk::Ok(Json(Health {
            status: "ok".into(),
        })))
    }
}
