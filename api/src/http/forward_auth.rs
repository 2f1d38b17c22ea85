//! Forward auth: a reverse proxy (nginx `auth_request`, Caddy `forward_auth`, Traefik
//! `forwardAuth`, Envoy `ext_authz`) asks whether the request it holds may reach the team's
//! own API, and learns who makes it.
//!
//! The answer comes from the same session check as `/api/me` (the cache, the sliding idle
//! expiry, the security epoch), so an ended session or a revoked role is refused on the very
//! next proxied request. The original request is held to the same cross-site policy as
//! spa-auth's own endpoints, so the team's `POST /api/orders` needs no CSRF token either.

use poem::{
    IntoResponse, Request, Response,
    http::{HeaderMap, HeaderName, HeaderValue, Method, header},
    web::Data,
};
use poem_openapi::{ApiResponse, OpenApi, param::Query};

use std::{convert::Infallible, sync::LazyLock};

use entity::user;

use super::{Tag, client_info};
use crate::{
    http::errors::{ApiError, api_errors},
    http::extractors::SessionAuth,
    http::state::AppState,
    http::user::PerUser,
    users::valid_role,
};

/// The headers a proxy passes the original method in: Caddy and Traefik send the first, and
/// nginx has no convention of its own, so the shipped config sends the second.
const ORIGINAL_METHOD: [HeaderName; 2] = [
    HeaderName::from_static("x-forwarded-method"),
    HeaderName::from_static("x-original-method"),
];

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// How the spec describes a verified request's answer. What is sent is [`Verified`], which
/// borrows this description.
#[derive(Debug, ApiResponse)]
pub enum VerifyOk {
    /// A live session, allowed this request. No body: the identity is in the headers, each
    /// value percent-encoded UTF-8 (RFC 3986 unreserved characters, `@` and `:` as they are,
    /// every other byte as `%XX`), so no header ever carries a control or non-ASCII byte.
    #[oai(status = 200)]
    Ok(
        /// The user's id (a UUID).
        #[oai(header = "X-Auth-User-Id")]
        String,
        /// The username, percent-encoded.
        #[oai(header = "X-Auth-Username")]
        String,
        /// The email address, percent-encoded; empty when the user has none.
        #[oai(header = "X-Auth-Email")]
        String,
        /// The user's roles, each percent-encoded, comma-separated; empty when none.
        #[oai(header = "X-Auth-Roles")]
        String,
        /// The session's id, as `/api/auth/sessions` lists it.
        #[oai(header = "X-Auth-Session-Id")]
        String,
        /// Sent when this request extended the session's idle lifetime: a proxy relays it
        /// to the browser so that the cookie lives as long as the session.
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

/// A verified request's answer, as [`VerifyOk`] describes it, written with header names made
/// once (the derived answer parses each of its six names on every request) and the user's
/// values made once per version of the user (`verified_reads_as_the_derived_answer`).
#[derive(Debug)]
pub struct Verified {
    identity: Identity,
    session_id: Option<HeaderValue>,
    cookie: Option<String>,
}

/// The user's four identity headers' values: id, username, email, roles. `None` for a value
/// that is not a valid header value, which the derived answer leaves out too (none is: every
/// one is percent-encoded or an id).
#[derive(Debug, Clone)]
struct Identity([Option<HeaderValue>; 4]);

impl Identity {
    fn of(user: &user::Model) -> Identity {
        let roles: Vec<String> = user.roles.0.iter().map(|r| header_safe(r)).collect();
        Identity::from_values([
            user.id.to_string(),
            header_safe(&user.username),
            header_safe(&user.email),
            roles.join(","),
        ])
    }

    fn from_values(values: [String; 4]) -> Identity {
        Identity(values.map(|v| HeaderValue::try_from(v).ok()))
    }
}

impl ApiResponse for Verified {
    fn meta() -> poem_openapi::registry::MetaResponses {
        VerifyOk::meta()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        VerifyOk::register(registry);
    }
}

impl IntoResponse for Verified {
    fn into_response(self) -> Response {
        const NAMES: [HeaderName; 5] = [
            HeaderName::from_static("x-auth-user-id"),
            HeaderName::from_static("x-auth-username"),
            HeaderName::from_static("x-auth-email"),
            HeaderName::from_static("x-auth-roles"),
            HeaderName::from_static("x-auth-session-id"),
        ];
        let [user_id, username, email, roles] = self.identity.0;
        let values = [user_id, username, email, roles, self.session_id];
        let mut resp = Response::default();
        let headers = resp.headers_mut();
        headers.reserve(12);
        for (name, value) in NAMES.into_iter().zip(values) {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
        if let Some(Ok(cookie)) = self.cookie.map(HeaderValue::try_from) {
            headers.insert(header::SET_COOKIE, cookie);
        }
        resp
    }
}

api_errors! {
    /// Errors of forward auth.
    VerifyError {
        plain: [
            400 BadRequest "The original method (`X-Forwarded-Method`, `X-Original-Method`) is not an HTTP method (`bad_request`): a proxy misconfiguration, refused loudly.",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`; the response clears the cookie, a proxy relays it), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "The original request is a cross-site state-changing request from a browser (`csrf_rejected`), or the user has none of the roles asked for (`forbidden`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Default)]
pub struct ForwardAuthApi;

#[OpenApi]
impl ForwardAuthApi {
    /// Verify a proxied request
    ///
    /// For reverse proxies in front of your own API. Answers 200 with the identity headers
    /// when the request's session is live, the user has one of the `role`s asked for (if
    /// any), and the original request (its method in `X-Forwarded-Method` or
    /// `X-Original-Method`, and the browser's `Origin`, `Sec-Fetch-Site`, `Host` or
    /// `X-Forwarded-Host`) passes the cross-site policy. Slides the idle expiry like
    /// `/api/me`.
    #[oai(path = "/api/auth/verify", method = "get", tag = "Tag::ForwardAuth")]
    async fn verify(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
        /// Roles that may pass, any of them (repeat the parameter for several). None: any
        /// logged-in user passes. A name no role can have is a gate nobody passes.
        role: Query<Option<Vec<String>>>,
    ) -> Result<Verified, VerifyError> {
        Ok(verify(
            req,
            &state,
            auth,
            role.0.as_deref().unwrap_or_default(),
        )?)
    }
}

fn verify(
    req: &Request,
    state: &AppState,
    auth: SessionAuth,
    roles: &[String],
) -> Result<Verified, ApiError> {
    // A role no user can have (a typo such as `?role=admin staff`) is a gate nobody passes,
    // as an impossible username is a user nobody is; the log says why everyone is refused.
    if let Some(bad) = roles.iter().find(|r| !valid_role(r)) {
        tracing::warn!(role = %bad.escape_debug(), "forward auth asked for a role no user can have");
    }
    let SessionAuth { current, token } = auth;
    let user = &current.user;
    let method = original_method(req.headers())?;
    let host = original_host(req.headers());
    if !state
        .cross_origin
        .allows_parts(&method, req.headers(), host)
    {
        let ip = client_info(req, state.trust_proxy).ip;
        tracing::info!(target: "audit", event = "csrf_rejected", forwarded = true, method = %method, user_id = %user.id, ip);
        return Err(ApiError::CsrfRejected);
    }
    if !roles.is_empty() && !roles.iter().any(|r| current.has_role(r)) {
        return Err(ApiError::Forbidden);
    }
    static IDENTITIES: LazyLock<PerUser<Identity>> = LazyLock::new(PerUser::new);
    let cookie = state.sessions.renewal_cookie(&current, &token);
    let Ok(identity) = IDENTITIES.get(user, |user| Ok::<_, Infallible>(Identity::of(user)));
    let mut session_id = [0; uuid::fmt::Hyphenated::LENGTH];
    let session_id = current
        .session
        .id
        .hyphenated()
        .encode_lower(&mut session_id);
    Ok(Verified {
        identity,
        session_id: HeaderValue::from_str(session_id).ok(),
        cookie,
    })
}

/// The method of the request the proxy holds. Without the header it is taken as a `GET`: a
/// proxy that sends no method protects only reads, which the shipped configs never do.
fn original_method(headers: &HeaderMap) -> Result<Method, ApiError> {
    // Said once per process: a proxy set up without the header leaves its upstream's unsafe
    // methods without CSRF defence, and nothing else would tell the operator.
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !ORIGINAL_METHOD.iter().any(|n| headers.contains_key(n))
        && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            "forward auth got no X-Forwarded-Method or X-Original-Method: the request is taken as a GET, so unsafe methods behind this proxy get no cross-site check"
        );
    }
    let mut method = Method::GET;
    for name in ORIGINAL_METHOD {
        let Some(value) = headers.get(&name) else {
            continue;
        };
        let parsed = Method::from_bytes(value.as_bytes())
            .map_err(|_| ApiError::BadRequest(format!("{name}: not an HTTP method")))?;
        // Two headers that disagree: judge the request by the one that needs the check.
        if !matches!(parsed, Method::GET | Method::HEAD | Method::OPTIONS) {
            method = parsed;
        }
    }
    Ok(method)
}

/// The host the browser addressed. A proxy may send the subrequest with its own `Host` (nginx
/// does unless told otherwise) and the browser's in `X-Forwarded-Host`. Either way a forged
/// request cannot choose it: a cross-site page cannot set custom headers without a CORS
/// preflight, which spa-auth answers only for trusted origins.
fn original_host(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(X_FORWARDED_HOST)
        .or_else(|| headers.get(header::HOST))
        .map(|h| h.as_bytes())
}

/// Percent-encodes every byte but RFC 3986's unreserved characters, `@` and `:`: an ASCII
/// username or email arrives as it is, anything else as `%XX` that every URL decoder reads
/// back (`+` too is encoded, so form decoders cannot turn it into a space).
fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_reads_as_the_derived_answer() {
        for cookie in [
            None,
            Some("__Host-session=abc; Max-Age=60; Path=/".to_owned()),
        ] {
            let fields = [
                "0b9c6a4e-5f43-4bb1-9b3a-3f1c2e1a9d20",
                "zo%C3%AB",
                "",
                "staff,ops",
                "7f2c0d1e-0000-4000-8000-000000000001",
            ]
            .map(String::from);
            let derived = VerifyOk::Ok(
                fields[0].clone(),
                fields[1].clone(),
                fields[2].clone(),
                fields[3].clone(),
                fields[4].clone(),
                cookie.clone(),
            )
            .into_response();
            let [user_id, username, email, roles, session_id] = fields;
            let ours = Verified {
                identity: Identity::from_values([user_id, username, email, roles]),
                session_id: HeaderValue::try_from(session_id).ok(),
                cookie,
            }
            .into_response();
            assert_eq!(ours.status(), derived.status());
            assert_eq!(ours.headers(), derived.headers());
        }
    }

    #[test]
    fn header_values_carry_no_control_or_non_ascii_byte() {
        assert_eq!(header_safe("alice"), "alice");
        assert_eq!(
            header_safe("a.b-c_d~e@example.com"),
            "a.b-c_d~e@example.com"
        );
        assert_eq!(header_safe("zoë"), "zo%C3%AB");
        assert_eq!(header_safe("a+b c%,\r\n"), "a%2Bb%20c%25%2C%0D%0A");
        assert_eq!(header_safe(""), "");
    }

    #[test]
    fn an_unsafe_original_method_wins_over_a_safe_one() {
        let mut h = HeaderMap::new();
        assert_eq!(original_method(&h).ok(), Some(Method::GET));
        h.insert("x-original-method", "POST".parse().expect("a header value"));
        h.insert("x-forwarded-method", "GET".parse().expect("a header value"));
        assert_eq!(original_method(&h).ok(), Some(Method::POST));
        h.insert(
            "x-forwarded-method",
            "GE T".parse().expect("a header value"),
        );
        assert!(original_method(&h).is_err());
    }
}
