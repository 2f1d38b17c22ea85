//! The one error type of the service, and the JSON body every error response carries.

mod code;

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{Object, types::Example};

use crate::database::is_outage;

pub use code::ErrorCode;

/// The body of every error response.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[oai(example, rename = "Error")]
pub struct ErrorBody {
    // No doc comment: one would turn the spec's plain `$ref` to `ErrorCode` into an `allOf`
    // (OpenAPI 3.0 allows nothing beside a `$ref`), and `ErrorCode` documents itself.
    pub code: ErrorCode,
    /// Human-readable explanation; may change between versions.
    pub message: String,
}

impl Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            code: ErrorCode::InvalidCredentials,
            message: "invalid username or password".into(),
        }
    }
}

/// One example body for every code the service answers with, for the spec's examples
/// (`spec::finish` picks each response's own from its description).
pub fn example_bodies() -> Vec<ErrorBody> {
    use crate::passwords::PasswordRejected;
    let mut bodies: Vec<ErrorBody> = [
        ApiError::BadRequest("malformed request: the message says what is wrong".into()),
        ApiError::InvalidCredentials,
        ApiError::NotAuthenticated,
        ApiError::CsrfRejected,
        ApiError::Forbidden,
        ApiError::WrongPassword,
        ApiError::PasswordRejected(PasswordRejected::TooCommon),
        ApiError::InvalidEmail,
        ApiError::InvalidToken,
        ApiError::UsernameTaken,
        ApiError::EmailTaken,
        ApiError::EmailNotVerified,
        ApiError::NotEnabled("sign-up is closed: ask an administrator for an account".into()),
        ApiError::SecondFactorRequired,
        ApiError::ReauthenticationRequired,
        ApiError::InvalidCode,
        ApiError::InvalidChallenge,
        ApiError::Conflict(
            "TOTP is already on: turn it off first to replace the authenticator".into(),
        ),
        ApiError::RequestTimeout,
        ApiError::NotFound,
        ApiError::HeadersTooLarge,
        ApiError::PayloadTooLarge,
        ApiError::TooManyRequests { retry_after: 60 },
        ApiError::Unavailable,
        ApiError::Internal(String::new()),
    ]
    .iter()
    .map(ApiError::body)
    .collect();
    // Answered by the middleware that puts poem's own errors in the Error shape.
    bodies.push(ErrorBody {
        code: ErrorCode::UnsupportedMediaType,
        message: "the request body must be application/json".into(),
    });
    bodies
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("authentication required")]
    NotAuthenticated,
    #[error("cross-site request refused")]
    CsrfRejected,
    #[error("none of the required roles")]
    Forbidden,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("{0}")]
    PasswordRejected(#[from] crate::passwords::PasswordRejected),
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("this link is invalid or has expired; ask for a new one")]
    InvalidToken,
    #[error("this username is taken")]
    UsernameTaken,
    #[error("another account has this email address")]
    EmailTaken,
    #[error(
        "the email address is not verified yet: follow the link mailed to it, or ask for a new one"
    )]
    EmailNotVerified,
    #[error("{0}")]
    NotEnabled(String),
    #[error("this session awaits its second factor: complete the second step first")]
    SecondFactorRequired,
    #[error("this operation needs a recent login: re-authenticate first")]
    ReauthenticationRequired,
    #[error("the code is wrong or was already used")]
    InvalidCode,
    #[error("the passkey challenge is unknown, expired or already used: start again")]
    InvalidChallenge,
    #[error("{0}")]
    Conflict(String),
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("not found")]
    NotFound,
    #[error("request headers are too large")]
    HeadersTooLarge,
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("too many requests; retry after {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("the service is busy; retry after {retry_after} seconds")]
    Busy { retry_after: u64 },
    /// Any database error. Only an outage (see [`is_outage`]) is a 503 `unavailable`: anything
    /// else is a fault of ours, a 500 `internal`, so that no request can fake "database down".
    #[error("{}", if is_outage(.0) { "the database is unavailable" } else { "internal error" })]
    Database(#[from] sea_orm::DbErr),
    #[error("the database is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::InvalidCredentials => ErrorCode::InvalidCredentials,
            ApiError::NotAuthenticated => ErrorCode::NotAuthenticated,
            ApiError::CsrfRejected => ErrorCode::CsrfRejected,
            ApiError::Forbidden => ErrorCode::Forbidden,
            ApiError::WrongPassword => ErrorCode::WrongCurrentPassword,
            ApiError::PasswordRejected(_) => ErrorCode::PasswordRejected,
            ApiError::InvalidEmail => ErrorCode::InvalidEmail,
            ApiError::InvalidToken => ErrorCode::InvalidToken,
            ApiError::UsernameTaken => ErrorCode::UsernameTaken,
            ApiError::EmailTaken => ErrorCode::EmailTaken,
            ApiError::EmailNotVerified => ErrorCode::EmailNotVerified,
            ApiError::NotEnabled(_) => ErrorCode::NotEnabled,
            ApiError::SecondFactorRequired => ErrorCode::SecondFactorRequired,
            ApiError::ReauthenticationRequired => ErrorCode::ReauthenticationRequired,
            ApiError::InvalidCode => ErrorCode::InvalidCode,
            ApiError::InvalidChallenge => ErrorCode::InvalidChallenge,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::RequestTimeout => ErrorCode::RequestTimeout,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            ApiError::Database(e) if !is_outage(e) => ErrorCode::Internal,
            ApiError::Busy { .. } | ApiError::Database(_) | ApiError::Unavailable => {
                ErrorCode::Unavailable
            }
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The status follows from the code: the outage-or-fault decision is made once, in `code`.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// Seconds a client should wait before trying again, where waiting helps.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { retry_after } | ApiError::Busy { retry_after } => {
                Some(*retry_after)
            }
            ApiError::Database(e) => is_outage(e).then_some(1),
            ApiError::Unavailable => Some(1),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        // Database and internal details go to the log, not to the client.
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
        }
    }

    pub(crate) fn log(&self) {
        match self {
            ApiError::Database(err) => {
                crate::telemetry::metrics::METRICS.db_error();
                tracing::error!(error = %err, outage = is_outage(err), "database error");
            }
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ => {}
        }
    }
}

impl From<crate::passwords::PasswordError> for ApiError {
    fn from(err: crate::passwords::PasswordError) -> Self {
        use crate::passwords::PasswordError;
        match err {
            PasswordError::Busy { retry_after } => ApiError::Busy { retry_after },
            PasswordError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

/// Each refusal of the domain's one answer, as the API words it.
impl From<crate::authentication::AuthError> for ApiError {
    fn from(err: crate::authentication::AuthError) -> Self {
        use crate::authentication::AuthError;
        match err {
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            AuthError::WrongPassword => ApiError::WrongPassword,
            AuthError::EmailNotVerified => ApiError::EmailNotVerified,
            AuthError::SessionEnded => ApiError::NotAuthenticated,
            AuthError::Throttled { retry_after } => ApiError::TooManyRequests { retry_after },
            AuthError::Contended => ApiError::Busy { retry_after: 1 },
            AuthError::ReauthenticationRequired => ApiError::ReauthenticationRequired,
            AuthError::Rejected(why) => ApiError::PasswordRejected(why),
            AuthError::Password(e) => e.into(),
            AuthError::Session(e) => e.into(),
            AuthError::Db(e) => ApiError::Database(e),
        }
    }
}

impl From<crate::accounts::AccountError> for ApiError {
    fn from(err: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError;
        match err {
            AccountError::NotEnabled(why) => ApiError::NotEnabled(why.into()),
            AccountError::InvalidEmail => ApiError::InvalidEmail,
            AccountError::InvalidUsername => ApiError::BadRequest(err.to_string()),
            AccountError::BadRequest(why) => ApiError::BadRequest(why.into()),
            AccountError::UsernameTaken => ApiError::UsernameTaken,
            AccountError::EmailTaken => ApiError::EmailTaken,
            AccountError::InvalidToken => ApiError::InvalidToken,
            AccountError::Throttled { retry_after } => ApiError::TooManyRequests { retry_after },
            AccountError::Rejected(why) => ApiError::PasswordRejected(why),
            AccountError::Password(e) => e.into(),
            AccountError::Auth(e) => e.into(),
            AccountError::Db(e) => ApiError::Database(e),
        }
    }
}

impl From<crate::second_factor::SecondFactorError> for ApiError {
    fn from(err: crate::second_factor::SecondFactorError) -> Self {
        use crate::second_factor::SecondFactorError;
        match err {
            SecondFactorError::NotEnabled => ApiError::NotEnabled(err.to_string()),
            SecondFactorError::InvalidCode => ApiError::InvalidCode,
            SecondFactorError::Conflict(why) => ApiError::Conflict(why.into()),
            SecondFactorError::SessionEnded => ApiError::NotAuthenticated,
            SecondFactorError::Throttled { retry_after } => {
                ApiError::TooManyRequests { retry_after }
            }
            SecondFactorError::BadRequest(why) => ApiError::BadRequest(why.into()),
            SecondFactorError::Auth(e) => e.into(),
            SecondFactorError::Passkey(e) => e.into(),
            SecondFactorError::Seal(e) => ApiError::Internal(e.to_string()),
            SecondFactorError::Totp(e) => ApiError::Internal(e),
            SecondFactorError::Session(e) => e.into(),
            SecondFactorError::Db(e) => ApiError::Database(e),
        }
    }
}

impl From<crate::passkeys::PasskeyError> for ApiError {
    fn from(err: crate::passkeys::PasskeyError) -> Self {
        use crate::passkeys::PasskeyError;
        match err {
            PasskeyError::NotEnabled => ApiError::NotEnabled(err.to_string()),
            PasskeyError::InvalidChallenge => ApiError::InvalidChallenge,
            PasskeyError::Malformed(why) => ApiError::BadRequest(why),
            PasskeyError::NotFound => ApiError::NotFound,
            PasskeyError::Conflict(why) => ApiError::Conflict(why.into()),
            PasskeyError::Auth(e) => e.into(),
            PasskeyError::Session(e) => e.into(),
            PasskeyError::Internal(detail) => ApiError::Internal(detail),
            PasskeyError::Db(e) => ApiError::Database(e),
        }
    }
}

impl From<crate::sessions::SessionError> for ApiError {
    fn from(err: crate::sessions::SessionError) -> Self {
        match err {
            crate::sessions::SessionError::Db(e) => ApiError::Database(e),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        self.log();
        let mut resp = poem::web::Json(self.body())
            .with_status(self.status())
            .into_response();
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert("retry-after", poem::http::HeaderValue::from(secs));
        }
        resp
    }
}

/// Declares the error responses one operation can send, so that the spec lists exactly those.
/// `plain` variants carry the body; `retry` variants carry the body and `Retry-After`.
/// An error outside the list becomes the 500 variant every operation documents.
macro_rules! api_errors {
    (
        $(#[$meta:meta])*
        $name:ident {
            plain: [$($pcode:literal $pvar:ident $pdoc:literal),* $(,)?],
            retry: [$($rcode:literal $rvar:ident $rdoc:literal),* $(,)?] $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $name {
            $(
                #[doc = $pdoc]
                #[oai(status = $pcode)]
                $pvar(poem_openapi::payload::Json<$crate::http::errors::ErrorBody>),
            )*
            $(
                #[doc = $rdoc]
                #[oai(status = $rcode)]
                $rvar(
                    poem_openapi::payload::Json<$crate::http::errors::ErrorBody>,
                    /// Seconds to wait before trying again.
                    #[oai(header = "Retry-After")] Option<u64>,
                ),
            )*
            /// An unexpected error (`internal`); details are in the server log.
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<$crate::http::errors::ErrorBody>),
        }

        impl From<$crate::http::errors::ApiError> for $name {
            fn from(err: $crate::http::errors::ApiError) -> Self {
                err.log();
                // Unused by an operation that documents no error of its own (`/livez`).
                #[allow(unused_variables)]
                let body = poem_openapi::payload::Json(err.body());
                match err.status().as_u16() {
                    $($pcode => $name::$pvar(body),)*
                    $($rcode => $name::$rvar(body, err.retry_after()),)*
                    _ => {
                        // A `String`, not `%`, so the line reads as it did when codes were `&str`s.
                        tracing::error!(
                            code = err.code().to_string(),
                            "error not documented for this operation"
                        );
                        $name::Internal(poem_openapi::payload::Json(
                            $crate::http::errors::ApiError::Internal(String::new()).body(),
                        ))
                    }
                }
            }
        }
    };
}
pub(crate) use api_errors;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, sqlx};

    use super::*;

    fn query(err: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
    }

    #[test]
    fn only_outages_are_unavailable() {
        let outages = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Conn(RuntimeErr::Internal("refused".into())),
            query(sqlx::Error::PoolTimedOut),
            query(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())),
        ];
        for err in outages {
            let api = ApiError::Database(err);
            assert_eq!(
                (api.status(), api.code()),
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            );
            assert_eq!(api.retry_after(), Some(1));
        }
        let faults = [
            DbErr::Type("bad column".into()),
            DbErr::RecordNotUpdated,
            query(sqlx::Error::ColumnNotFound("x".into())),
        ];
        for err in faults {
            let api = ApiError::Database(err);
            assert_eq!(
                (api.status(), api.code()),
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            );
            assert_eq!(
                (api.retry_after(), api.to_string().as_str()),
                (None, "internal error")
            );
        }
    }
}
