//! The HTTP API, declared with poem-openapi: every operation, its security scheme and every
//! response it can send.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use crate::{
    errors::{ApiError, api_errors},
    security::{BasicAuth, SessionAuth, session_token},
    sessions::ClientInfo,
    startup::AppState,
    users::{self, User},
};

#[derive(Tags)]
enum Tag {
    /// Logging in and out, and who is logged in.
    Auth,
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
        ],
        retry: [
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
pub enum LogoutOk {
    /// Logged out: the session is ended on the server and the cookie cleared.
    #[oai(status = 204)]
    LoggedOut(
        /// Clears the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of operations that need a session.
    SessionError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`). The response clears the cookie.",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
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

/// Who made the request, for the session record and the audit log.
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

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Log in
    ///
    /// Checks the HTTP Basic credentials and opens a new server-side session, sent back as an
    /// HttpOnly cookie. A failed login answers 401 without `WWW-Authenticate`.
    #[oai(path = "/api/auth/login", method = "post", operation_id = "login")]
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
    /// The user of the session the cookie names.
    #[oai(path = "/api/me", method = "get", operation_id = "getMe")]
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
    #[oai(path = "/api/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<LogoutOk, SessionError> {
        let session = &auth.current.session;
        state.sessions.end(session.id).await.map_err(ApiError::from)?;
        let ip = client_info(req, state.trust_proxy).ip;
        tracing::info!(target: "audit", event = "logout", user_id = %session.user_id, session_id = %session.id, ip);
        Ok(LogoutOk::LoggedOut(state.sessions.clear_cookie()))
    }
}

async fn login(req: &Request, state: &AppState, auth: BasicAuth) -> Result<LoginOk, ApiError> {
    let client = client_info(req, state.trust_proxy);
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
            tracing::info!(
                target: "audit",
                event = "login_failed",
                user_id = other.map(|u| u.id.to_string()),
                ip = client.ip
            );
            return Err(ApiError::InvalidCredentials);
        }
    };
    let new_hash = match verified.needs_rehash {
        true => Some(state.passwords.hash(&auth.password).await?),
        false => None,
    };
    // No session fixation: whatever session the client brings is ended, never adopted.
    if let Some(old) = session_token(req, state.sessions.cookie_name()) {
        state.sessions.end_by_token(&old).await?;
    }
    let user = users::record_login(&state.db, user, new_hash).await?;
    let (token, session) = state.sessions.create(user.id, &client).await?;
    tracing::info!(target: "audit", event = "login_succeeded", user_id = %user.id, session_id = %session.id, ip = client.ip);
    let cookie = state.sessions.cookie(&token, session.expires_at);
    Ok(LoginOk::Ok(Json(user.into()), cookie))
}

pub struct HealthApi;

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// Health check
    ///
    /// 200 while the database answers, 503 when it does not. For load balancers.
    #[oai(path = "/healthz", method = "get", operation_id = "getHealth")]
    async fn healthz(&self, state: Data<&AppState>) -> Result<HealthOk, HealthError> {
        state.db.ping().await.map_err(ApiError::from)?;
        Ok(HealthOk::Ok(Json(Health {
            status: "ok".into(),
        })))
    }
}
