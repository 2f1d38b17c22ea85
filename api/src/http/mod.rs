//! The HTTP API, declared with poem-openapi: every operation, its security scheme and every
//! response it can send. One file per tag; what they share is here.

mod account;
pub mod app;
mod auth;
pub mod dispatch;
pub mod docs;
pub mod errors;
pub mod extractors;
mod forward_auth;
mod health;
pub mod json;
pub mod middleware;
mod passkeys;
pub mod protect;
mod registration;
pub mod routes;
mod second_factor;
pub mod spa;
pub mod spec;
pub mod state;
mod user;

use poem::Request;
use poem_openapi::Tags;

pub use account::{AccountApi, EndedSessions, PasswordChange, SessionInfo};
pub use auth::AuthApi;
pub use forward_auth::ForwardAuthApi;
pub use health::{Health, HealthApi};
pub use passkeys::PasskeyApi;
pub use registration::RegistrationApi;
pub use second_factor::{SecondFactorApi, SecondFactorChallenge};
pub use user::User;

use crate::{http::errors::api_errors, sessions::ClientInfo};

#[derive(Tags)]
pub(crate) enum Tag {
    /// Logging in and out, and who is logged in.
    Auth,
    /// The user's own sessions, password and address.
    Account,
    /// The second step of a login, TOTP and recovery codes, and re-authentication.
    SecondFactor,
    /// Passkeys: registering them, and logging in with one.
    Passkeys,
    /// Signing up, proving an address, resetting a forgotten password.
    Registration,
    /// For reverse proxies that protect your own API with spa-auth's sessions.
    ForwardAuth,
    /// Health of the service.
    Health,
}

api_errors! {
    /// Errors of reading with a session.
    SessionError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
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
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of a host application's operation protected by spa-auth
    /// ([`protect::Protect`] and [`extractors::SessionAuth`]): use it as the operation's error
    /// type, and `?` turns an [`errors::ApiError`] (from `SessionAuth::require_role`, say)
    /// into the documented response with spa-auth's Error body.
    ProtectedError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`), or none of the required roles (`forbidden`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

/// A JSON string and nothing else: what every text field of a request body is. poem-openapi's `String` also takes numbers and booleans
/// and turns them into text, which for a password would mean `12345678901` becoming a
/// password the user never typed as one.
#[derive(Clone)]
pub struct Text(pub String);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords, tokens, and addresses and names (personal data): never shown.
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

/// Who made the request, for the session record, throttling and the audit log.
pub fn client_info(req: &Request, trust_proxy: bool) -> ClientInfo {
    // Repeated lines are one comma-separated list (RFC 9110 §5.3), and the last entry of the
    // last line is the one our own proxy appended (HAProxy adds a line, nginx extends the
    // list); everything before it is whatever the client claimed. Empty entries are ignored.
    let forwarded = trust_proxy
        .then(|| req.headers().get_all("x-forwarded-for").iter().next_back())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').map(str::trim).find(|e| !e.is_empty()))
        .and_then(|entry| {
            // `ip`, `v6`, `ip:port` or `[v6]:port`.
            let ip = entry.parse::<std::net::IpAddr>();
            let with_port = || entry.parse::<std::net::SocketAddr>().map(|a| a.ip());
            let bracketed = || {
                let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
                inner.parse::<std::net::IpAddr>().ok()
            };
            ip.or_else(|_| with_port()).ok().or_else(bracketed)
        })
        .map(|ip| ip.to_string());
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
