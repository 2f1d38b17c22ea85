//! The one list of error codes. The spec declares it as the `ErrorCode` schema, the TypeScript
//! client turns that into a union type, so a misspelt code fails to compile on either side.

use poem::http::StatusCode;

/// Stable machine-readable error code; the `message` beside it is for people and may change.
///
/// - `bad_request`: the request is malformed (a bad `Authorization` header, a body that is not
///   the documented JSON, an unparsable parameter); the message says what is wrong.
/// - `invalid_credentials`: wrong username or password at login.
/// - `not_authenticated`: no session cookie, or its session has ended or expired.
/// - `csrf_rejected`: a cross-site state-changing request from a browser.
/// - `forbidden`: the user is logged in but has none of the roles the request requires.
/// - `wrong_current_password`: the current password given to a password change is wrong.
/// - `password_rejected`: the new password breaks a rule; the message says which.
/// - `invalid_email`: not an address mail can be sent to.
/// - `invalid_token`: a link's token is unknown, expired, already used, or dead because the
///   password or address changed since it was mailed; ask for a new link.
/// - `username_taken`: sign-up with a username another account has (ignoring case).
/// - `email_taken`: the address was taken by another account before this one could prove it.
/// - `email_not_verified`: the right password, but the address must be verified first.
/// - `not_enabled`: this server does not offer it (closed sign-up, no mail configured, no
///   secret key for TOTP).
/// - `second_factor_required`: the session has only passed the password; complete the second
///   step (`POST /api/auth/second-factor`) first.
/// - `reauthentication_required`: a sensitive change needs a recent proof of identity; call
///   `POST /api/auth/reauthenticate` and retry.
/// - `invalid_code`: a TOTP or recovery code that is wrong, expired or already used, or a
///   passkey that did not verify.
/// - `invalid_challenge`: a passkey ceremony that is unknown, expired (after
///   `SPA_AUTH_PASSKEY_CHALLENGE_TIMEOUT`), already used, or begun by another session; begin
///   a new one.
/// - `conflict`: the request does not fit the account's state now (TOTP already on, or not
///   on, nothing to confirm, a session that awaits no second factor, a code missing for an
///   account with TOTP); the message says which.
/// - `request_timeout`: the request body did not arrive in time.
/// - `not_found`: no such path, or no such session of this user.
/// - `method_not_allowed`: the path exists, the method does not (`Allow` lists the right ones).
/// - `headers_too_large`: the request headers are too large.
/// - `payload_too_large`: the request body is too large.
/// - `unsupported_media_type`: the request body is not `application/json`.
/// - `too_many_requests`: too many failed attempts; wait `Retry-After` seconds.
/// - `unavailable`: the database or the password hashing is unavailable or busy; wait
///   `Retry-After` seconds.
/// - `internal`: an unexpected error; details are in the server log.
//
// The wire strings are the variant names in snake_case, written twice by derive: poem-openapi's
// `ToJSON` for operation responses and the spec, serde for the middleware's `poem::web::Json`.
// `tests::both_serialisations_agree` holds the two together.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    poem_openapi::Enum,
    serde::Serialize,
    serde::Deserialize,
)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidCredentials,
    NotAuthenticated,
    CsrfRejected,
    Forbidden,
    WrongCurrentPassword,
    PasswordRejected,
    InvalidEmail,
    InvalidToken,
    UsernameTaken,
    EmailTaken,
    EmailNotVerified,
    NotEnabled,
    SecondFactorRequired,
    ReauthenticationRequired,
    InvalidCode,
    InvalidChallenge,
    Conflict,
    RequestTimeout,
    NotFound,
    MethodNotAllowed,
    HeadersTooLarge,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The status every response with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::PasswordRejected
            | ErrorCode::InvalidEmail
            | ErrorCode::InvalidToken
            | ErrorCode::InvalidChallenge => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCredentials
            | ErrorCode::NotAuthenticated
            | ErrorCode::EmailNotVerified
            | ErrorCode::SecondFactorRequired => StatusCode::UNAUTHORIZED,
            ErrorCode::UsernameTaken | ErrorCode::EmailTaken | ErrorCode::Conflict => {
                StatusCode::CONFLICT
            }
            // Not this server's policy: no retry will change it.
            ErrorCode::NotEnabled => StatusCode::FORBIDDEN,
            // A well-formed request from a logged-in user whose re-authentication failed: refused,
            // not malformed (400) and not a dead session (401, which clients take as logged out).
            ErrorCode::CsrfRejected
            | ErrorCode::WrongCurrentPassword
            | ErrorCode::InvalidCode
            | ErrorCode::ReauthenticationRequired => StatusCode::FORBIDDEN,
            // Logged in, so not a 401 (clients take that as logged out), but not allowed.
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Every code, in declaration order, as the derive lists them for the spec's `enum`: read
    /// from there so that a new variant cannot be left out of this list.
    pub fn all() -> Vec<ErrorCode> {
        use poem_openapi::types::{ParseFromJSON, Type};
        let mut registry = poem_openapi::registry::Registry::new();
        ErrorCode::register(&mut registry);
        registry
            .schemas
            .get(ErrorCode::name().as_ref())
            .map(|schema| schema.enum_items.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| ErrorCode::parse_from_json(Some(item)).ok())
            .collect()
    }

    /// The code of an error poem answers by itself (unknown path, wrong method, unparsable
    /// request), which the `json_errors` middleware turns into the Error shape.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
            StatusCode::UNAUTHORIZED => ErrorCode::NotAuthenticated,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// The wire string, `invalid_credentials`: the one poem-openapi writes, so never a third
/// spelling.
impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match poem_openapi::types::ToJSON::to_json(self) {
            Some(serde_json::Value::String(s)) => f.write_str(&s),
            // The derive always writes a string; anything else would be a poem-openapi change.
            _ => Err(std::fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::{ParseFromJSON, ToJSON};

    use super::*;

    /// The middleware gives poem's own errors the code whose status they have, where one does.
    #[test]
    fn for_status_keeps_the_status() {
        for code in ErrorCode::all() {
            let status = code.status();
            let back = ErrorCode::for_status(status);
            let kept = back.status() == status;
            // poem never answers these by itself; the middleware's fallback is `bad_request`.
            let unmapped = [403, 409, 429, 431].contains(&status.as_u16());
            assert!(kept != unmapped, "{code:?}: {status} -> {back:?}");
        }
    }

    #[test]
    fn both_serialisations_agree() {
        for code in ErrorCode::all() {
            let oai = code.to_json().expect("a string");
            let serde = serde_json::to_value(code).expect("serialises");
            assert_eq!(oai, serde, "{code:?}");
            assert_eq!(serde_json::Value::String(code.to_string()), oai);
            assert_eq!(
                serde_json::from_value::<ErrorCode>(oai.clone()).ok(),
                Some(code)
            );
            assert_eq!(ErrorCode::parse_from_json(Some(oai)).ok(), Some(code));
        }
    }

    #[test]
    fn the_wire_strings_are_todays() {
        let strings: Vec<String> = ErrorCode::all().iter().map(|c| c.to_string()).collect();
        assert_eq!(
            strings,
            [
                "bad_request",
                "invalid_credentials",
                "not_authenticated",
                "csrf_rejected",
                "forbidden",
                "wrong_current_password",
                "password_rejected",
                "invalid_email",
                "invalid_token",
                "username_taken",
                "email_taken",
                "email_not_verified",
                "not_enabled",
                "second_factor_required",
                "reauthentication_required",
                "invalid_code",
                "invalid_challenge",
                "conflict",
                "request_timeout",
                "not_found",
                "method_not_allowed",
                "headers_too_large",
                "payload_too_large",
                "unsupported_media_type",
                "too_many_requests",
                "unavailable",
                "internal",
            ]
        );
    }
}
