//! The two security schemes of the API: HTTP Basic for login, the session cookie for the rest.
//!
//! They implement poem-openapi's `ApiExtractor` by hand instead of `#[derive(SecurityScheme)]`:
//! the derive fixes the cookie name at compile time (ours is a setting) and turns every
//! credential problem into the same bare 401, where a malformed header deserves a 400 that
//! says what is wrong. The spec they register is the one the derive would.

use std::sync::{Arc, Mutex};

use base64::{Engine, engine::general_purpose::STANDARD};
use poem::{
    Request, RequestBody,
    error::ResponseError,
    http::{HeaderMap, HeaderValue, header},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use crate::{
    http::errors::ApiError,
    http::state::AppState,
    passwords::{MAX_LENGTH, Password},
    sessions::{Current, Found, Token},
};

pub const BASIC_AUTH: &str = "basicAuth";
pub const SESSION_COOKIE: &str = "sessionCookie";
/// The cookie name the spec documents; the running name is the `cookie_name` setting.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-session";

/// Username and password from an `Authorization: Basic` header.
#[derive(Debug)]
pub struct BasicAuth {
    pub username: String,
    pub password: Password,
}

/// Parses `Authorization: Basic base64(username:password)`, saying precisely what is wrong.
pub fn parse_basic(value: Option<&HeaderValue>) -> Result<BasicAuth, ApiError> {
    let bad = |msg: &str| ApiError::BadRequest(msg.to_owned());
    let Some(value) = value else {
        return Err(ApiError::NotAuthenticated);
    };
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(bad("the Authorization header must use the Basic scheme"));
    }
    let encoded = rest.trim_ascii();
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| bad("the Basic credentials are not valid base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| bad("the Basic credentials are not valid UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| bad("the Basic credentials must be username:password"))?;
    // An empty, overlong or control-character username is still well-formed Basic: it is a
    // user that cannot exist, answered as any unknown user (`users::find_by_username`).
    if password.chars().count() > MAX_LENGTH {
        return Err(bad("the password is longer than 1024 characters"));
    }
    Ok(BasicAuth {
        username: username.to_owned(),
        password: Password::new(password),
    })
}

impl<'a> ApiExtractor<'a> for BasicAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            BASIC_AUTH,
            MetaSecurityScheme {
                ty: "http",
                description: Some("Username and password, used only to log in."),
                name: None,
                key_in: None,
                scheme: Some("basic"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BASIC_AUTH]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(parse_basic(req.headers().get(header::AUTHORIZATION))?)
    }
}

/// Finds the value of cookie `name` in the `Cookie` headers, as raw bytes: the first pair
/// (split at `;`, trimmed) whose name (before its first `=`, trimmed) is `name`. The
/// separators are found with `memchr`: this runs on every request that carries a session,
/// and a byte-by-byte split of a browser's cookie header was a visible share of one.
pub fn find_cookie<'r>(headers: &'r HeaderMap, name: &str) -> Option<&'r [u8]> {
    headers.get_all(header::COOKIE).iter().find_map(|v| {
        let mut rest = Some(v.as_bytes());
        std::iter::from_fn(|| {
            let bytes = rest?;
            Some(match memchr::memchr(b';', bytes) {
                Some(end) => {
                    rest = Some(&bytes[end + 1..]);
                    &bytes[..end]
                }
                None => {
                    rest = None;
                    bytes
                }
            })
        })
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = memchr::memchr(b'=', pair)?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
    })
}

/// The session token the request carries, if it has the shape of one.
pub fn session_token(req: &Request, cookie_name: &str) -> Option<Token> {
    session_token_in(req.headers(), cookie_name)
}

/// The session token `Cookie` headers carry, if it has the shape of one: for any framework
/// built on the `http` crate's `HeaderMap` (poem re-exports it, axum uses it).
pub fn session_token_in(headers: &HeaderMap, cookie_name: &str) -> Option<Token> {
    find_cookie(headers, cookie_name)
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .and_then(Token::parse)
}

/// A request made within a live session: put it among an operation's arguments and the
/// operation answers 401 (clearing the cookie) unless the request carries a live session, and
/// the spec lists it under the `sessionCookie` security scheme.
///
/// It finds spa-auth in the request's data: spa-auth's own API has it, and a host's routes
/// get it from [`crate::http::protect::Protect`].
#[derive(Debug)]
pub struct SessionAuth {
    /// The session and its user, as stored at this request.
    pub current: Current,
    /// The token the cookie carried.
    pub token: Token,
}

impl SessionAuth {
    /// Refuses with 403 `forbidden` unless the user has `role`; returned from a handler (with
    /// `?` into [`crate::http::ProtectedError`] or `poem::Error`) it answers spa-auth's JSON
    /// error body. A role granted or revoked with the CLI applies on the very next request.
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        self.require_any_role(&[role])
    }

    /// Like [`SessionAuth::require_role`], satisfied by any one of `roles`.
    pub fn require_any_role(&self, roles: &[&str]) -> Result<(), ApiError> {
        match self.current.has_any_role(roles) {
            true => Ok(()),
            false => Err(ApiError::Forbidden),
        }
    }
}

/// Where [`SessionAuth`] leaves the `Set-Cookie` of a session whose idle deadline this
/// request pushed forward, for a middleware to send: a host's handler knows nothing of it.
#[derive(Clone, Default)]
pub(crate) struct Renewal(pub(crate) Arc<Mutex<Option<String>>>);

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ApiError::Internal("application state missing".into()).into())
}

/// The `sessionCookie` security scheme, as every extractor of a session registers it.
fn register_session_cookie(registry: &mut Registry) {
    registry.create_security_scheme(
        SESSION_COOKIE,
        MetaSecurityScheme {
            ty: "apiKey",
            // Swagger UI's Authorize dialog shows a box for this scheme that nobody can fill:
            // the cookie is HttpOnly and a page may not set a Cookie header. Say how to try the
            // API instead, where the visitor looks.
            description: Some(
                "The HttpOnly session cookie that login sets (its name is a server setting). \
                 There is nothing to paste here: no page can read an HttpOnly cookie or send \
                 a Cookie header, so leave this box empty. To try the API from this page, \
                 authorize with basicAuth (username and password) and run the login operation, \
                 `POST /api/auth/login`: the browser keeps the cookie it answers with and sends \
                 it with every later call by itself, until `POST /api/auth/logout`.",
            ),
            name: Some(DEFAULT_COOKIE_NAME),
            key_in: Some("cookie"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
}

/// The `ApiExtractor` of a session type: the `sessionCookie` scheme, and `$body` (given the
/// request as `$req`) to make the value.
macro_rules! session_extractor {
    ($ty:ty, |$req:ident| $body:block) => {
        impl<'a> ApiExtractor<'a> for $ty {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                register_session_cookie(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                vec![SESSION_COOKIE]
            }

            async fn from_request(
                $req: &'a Request,
                _body: &mut RequestBody,
                _param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                $body
            }
        }
    };
}

/// What the request's cookie leads to ([`crate::sessions::Sessions::find`], the one check
/// every path goes through), with the token; a missing or dead session is refused here with
/// 401 `not_authenticated`, clearing the cookie so the browser stops sending it.
async fn find_session(req: &Request) -> poem::Result<(Found, Token)> {
    let state = state(req)?;
    let sessions = &state.sessions;
    let refuse = || {
        let mut resp = ApiError::NotAuthenticated.as_response();
        if let Ok(v) = HeaderValue::from_str(&sessions.clear_cookie()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        poem::Error::from_response(resp)
    };
    let Some(token) = session_token(req, sessions.cookie_name()) else {
        return Err(refuse());
    };
    match sessions.find(&token).await {
        Ok(Found::Nothing) => Err(refuse()),
        Ok(found) => Ok((found, token)),
        Err(e) => Err(ApiError::Database(e).into()),
    }
}

session_extractor!(SessionAuth, |req| {
    match find_session(req).await? {
        (Found::Live(current), token) => {
            let sessions = &state(req)?.sessions;
            if let Some(Renewal(slot)) = req.data::<Renewal>()
                && let Some(cookie) = sessions.renewal_cookie(&current, &token)
                && let Ok(mut slot) = slot.lock()
            {
                *slot = Some(cookie);
            }
            Ok(SessionAuth { current, token })
        }
        // The cookie is kept: the client needs it for the second step.
        _ => Err(ApiError::SecondFactorRequired.into()),
    }
});

/// A session that awaits its second factor: only `POST /api/auth/second-factor` takes it. A
/// complete session there has no second step to take (409 `conflict`).
#[derive(Debug)]
pub struct PendingAuth {
    pub current: Current,
    pub token: Token,
}

session_extractor!(PendingAuth, |req| {
    match find_session(req).await? {
        (Found::AwaitingSecondFactor(current), token) => Ok(PendingAuth { current, token }),
        _ => Err(ApiError::Conflict("this session does not await a second factor".into()).into()),
    }
});

/// Any session, complete or awaiting its second factor: for logging out, which a user who
/// gives up halfway through a login must be able to do too.
#[derive(Debug)]
pub struct AnySessionAuth {
    pub current: Current,
}

session_extractor!(AnySessionAuth, |req| {
    match find_session(req).await? {
        (Found::Live(current) | Found::AwaitingSecondFactor(current), _) => {
            Ok(AnySessionAuth { current })
        }
        (Found::Nothing, _) => Err(ApiError::NotAuthenticated.into()),
    }
});

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;

    /// The plain reading of `Cookie` headers that `find_cookie` must agree with.
    fn by_split<'r>(headers: &'r HeaderMap, name: &str) -> Option<&'r [u8]> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
            .find_map(|pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|b| *b == b'=')?;
                (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
            })
    }

    #[test]
    fn a_cookie_is_found_where_a_plain_split_finds_it() {
        let pieces = [
            "s=v", " s = v ", "s=", "s", "=v", "other=1", "s=a=b", "", " ", ";", "ss=x", "S=y",
            "s=\"q\"", "x=s=1",
        ];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for header_sets in [
                        vec![format!("{a};{b};{c}")],
                        vec![format!("{a}; {b}"), c.to_owned()],
                    ] {
                        let mut headers = HeaderMap::new();
                        for h in &header_sets {
                            if let Ok(v) = HeaderValue::from_str(h) {
                                headers.append(header::COOKIE, v);
                            }
                        }
                        for name in ["s", "other", "ss", ""] {
                            assert_eq!(
                                find_cookie(&headers, name),
                                by_split(&headers, name),
                                "{header_sets:?} {name}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 20_000, "{checked}");
    }
}
