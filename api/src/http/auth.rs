//! Logging in and out, and who is logged in.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, OpenApi, param::Query, payload::Json};

use super::{SecondFactorChallenge, SessionChangeError, SessionError, Tag, User, client_info};
use crate::{
    authentication,
    http::errors::{ApiError, api_errors},
    http::extractors::{AnySessionAuth, BasicAuth, SessionAuth, session_token},
    http::json::{DirectJson, Rendered},
    http::state::AppState,
    sessions::{Reason, Which},
};

#[derive(Debug, ApiResponse)]
pub enum LoginOk {
    /// Logged in. `Set-Cookie` carries a brand-new session; any session the client brought
    /// has been ended.
    #[oai(status = 200)]
    Ok(
        DirectJson<User>,
        /// The HttpOnly session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
    /// The right password for an account with a second factor. `Set-Cookie` carries a
    /// session that can do nothing but complete the second step
    /// (`POST /api/auth/second-factor`) within `SPA_AUTH_SECOND_FACTOR_TIMEOUT` (5 minutes by
    /// default); every other operation answers 401 `second_factor_required`.
    #[oai(status = 202)]
    SecondFactorRequired(
        Json<SecondFactorChallenge>,
        /// The HttpOnly cookie of the half-open session.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of login.
    LoginError {
        plain: [
            400 BadRequest "The Authorization header is not valid HTTP Basic, or `remember` is not `true` or `false` (`bad_request`).",
            401 Unauthorized "No credentials (`not_authenticated`), or wrong username or password, or an inactive account (`invalid_credentials`), or the right password for an account whose address must be verified first (`email_not_verified`, with `SPA_AUTH_REQUIRE_VERIFIED_EMAIL`). Never carries `WWW-Authenticate`, so browsers show no pop-up.",
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
        Rendered<User>,
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

#[derive(Default)]
pub struct AuthApi;

#[OpenApi]
impl AuthApi {
    /// Log in
    ///
    /// Checks the HTTP Basic credentials and opens a new server-side session, sent back as an
    /// HttpOnly cookie. A failed login answers 401 without `WWW-Authenticate`. With
    /// `?remember=false` the cookie has no `Max-Age` (the browser drops it when it closes)
    /// and the session idles out sooner (`SPA_AUTH_SESSION_IDLE_TIMEOUT_SHORT`, 12 hours by
    /// default).
    #[oai(path = "/api/auth/login", method = "post", tag = "Tag::Auth")]
    async fn login(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: BasicAuth,
        /// "Remember me": `true` (the default) keeps the session across browser restarts for
        /// the idle timeout; `false` sends a browser-session cookie and applies the shorter
        /// idle timeout, for a shared computer.
        #[oai(default = "remember_by_default")]
        remember: Query<bool>,
    ) -> Result<LoginOk, LoginError> {
        Ok(login(req, &state, auth, remember.0).await?)
    }

    /// Who is logged in
    ///
    /// The user of the session the cookie names, with their current roles.
    #[oai(path = "/api/me", method = "get", tag = "Tag::Auth")]
    async fn me(&self, state: Data<&AppState>, auth: SessionAuth) -> Result<MeOk, SessionError> {
        let SessionAuth { current, token } = auth;
        let cookie = state.sessions.renewal_cookie(&current, &token);
        let body = crate::http::user::rendered(&current.user)
            .ok_or_else(|| ApiError::Internal("the user did not serialize".into()))?;
        Ok(MeOk::Ok(body, cookie))
    }

    /// Log out
    ///
    /// Ends the session on the server, so a copied cookie is dead too, and clears the cookie.
    /// A session that awaits its second factor can log out too: a user who gives up halfway.
    #[oai(path = "/api/auth/logout", method = "post", tag = "Tag::Auth")]
    async fn logout(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: AnySessionAuth,
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
}

/// A login without `?remember=` behaves as before the parameter existed.
fn remember_by_default() -> bool {
    true
}

async fn login(
    req: &Request,
    state: &AppState,
    auth: BasicAuth,
    remember: bool,
) -> Result<LoginOk, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let brought = session_token(req, state.sessions.cookie_name());
    let (username, password) = (&auth.username, &auth.password);
    let opened =
        authentication::log_in(state, username, password, &client, brought, remember).await?;
    let cookie = state.sessions.cookie(&opened.token, &opened.session);
    if opened.session.second_factor_pending {
        let methods = crate::second_factor::methods_of(&state.db, opened.user.id).await?;
        let challenge = SecondFactorChallenge::for_methods(&methods);
        return Ok(LoginOk::SecondFactorRequired(Json(challenge), cookie));
    }
    Ok(LoginOk::Ok(DirectJson(opened.user.into()), cookie))
}
