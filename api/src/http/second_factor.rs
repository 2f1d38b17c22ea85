//! Second factors: the second step of a login, TOTP, recovery codes and re-authentication.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, payload::Json};

use super::{Tag, Text, User, client_info, passkeys::PasskeyAnswer};
use crate::{
    http::errors::{ApiError, api_errors},
    http::extractors::{PendingAuth, SessionAuth},
    http::json::DirectJson,
    http::state::AppState,
    passwords::Password,
    second_factor::{self, Proof},
};

/// A second factor the user can give at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SecondFactorMethod {
    Totp,
    RecoveryCode,
    /// One of the account's passkeys (`passkeyProofOptions`, then `passkey`).
    Passkey,
}

/// The answer to a right password when the account has a second factor.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SecondFactorChallenge {
    /// Always `true`: tells this answer apart from a `User`.
    pub second_factor_required: bool,
    /// What `POST /api/auth/second-factor` accepts for this account.
    pub methods: Vec<SecondFactorMethod>,
}

impl poem_openapi::types::Example for SecondFactorChallenge {
    fn example() -> Self {
        SecondFactorChallenge {
            second_factor_required: true,
            methods: vec![SecondFactorMethod::Totp, SecondFactorMethod::RecoveryCode],
        }
    }
}

impl SecondFactorChallenge {
    pub fn for_methods(methods: &[&str]) -> Self {
        let methods = methods
            .iter()
            .filter_map(|m| match *m {
                "totp" => Some(SecondFactorMethod::Totp),
                "recovery_code" => Some(SecondFactorMethod::RecoveryCode),
                "passkey" => Some(SecondFactorMethod::Passkey),
                _ => None,
            })
            .collect();
        SecondFactorChallenge {
            second_factor_required: true,
            methods,
        }
    }
}

/// One of `code` (from the authenticator app), `recovery_code` or `passkey`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SecondFactorProof {
    /// The 6-digit code the authenticator app shows now.
    #[oai(validator(max_length = 16))]
    pub code: Option<Text>,
    /// One of the recovery codes shown when TOTP was turned on; each works once.
    #[oai(validator(max_length = 64))]
    pub recovery_code: Option<Text>,
    /// The answer of one of the account's passkeys to `passkeyProofOptions`.
    pub passkey: Option<PasskeyAnswer>,
}

impl poem_openapi::types::Example for SecondFactorProof {
    fn example() -> Self {
        SecondFactorProof {
            code: Some(Text("123456".into())),
            recovery_code: None,
            passkey: None,
        }
    }
}

fn proof(
    code: Option<Text>,
    recovery: Option<Text>,
    passkey: Option<PasskeyAnswer>,
) -> Result<Option<Proof>, ApiError> {
    match (code, recovery, passkey) {
        (Some(code), None, None) => Ok(Some(Proof::Totp(code.0))),
        (None, Some(code), None) => Ok(Some(Proof::RecoveryCode(code.0))),
        (None, None, Some(answer)) => Ok(Some(Proof::Passkey(answer.into()))),
        (None, None, None) => Ok(None),
        _ => Err(ApiError::BadRequest(
            "give one of `code`, `recovery_code` and `passkey`, not several".into(),
        )),
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Reauthentication {
    /// Required unless `passkey` is given.
    #[oai(validator(max_length = 1024))]
    pub password: Option<Text>,
    /// Required with the password when the account has a second factor: the code the app
    /// shows now.
    #[oai(validator(max_length = 16))]
    pub code: Option<Text>,
    /// Instead of `code`: one of the recovery codes.
    #[oai(validator(max_length = 64))]
    pub recovery_code: Option<Text>,
    /// Instead of all the above: the answer of one of the account's passkeys to
    /// `passkeyProofOptions`, which proves both factors at once.
    pub passkey: Option<PasskeyAnswer>,
}

impl poem_openapi::types::Example for Reauthentication {
    fn example() -> Self {
        Reauthentication {
            password: Some(Text("correct horse battery staple".into())),
            code: Some(Text("123456".into())),
            recovery_code: None,
            passkey: None,
        }
    }
}

/// A new TOTP secret, to put into an authenticator app; inactive until confirmed.
#[derive(Debug, Object)]
#[oai(example)]
pub struct TotpEnrolment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// The `otpauth://totp/...` URI the QR code holds.
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document made by the server.
    pub qr_svg: String,
}

impl poem_openapi::types::Example for TotpEnrolment {
    fn example() -> Self {
        TotpEnrolment {
            secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
            otpauth_uri: "otpauth://totp/spa-auth:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=spa-auth".into(),
            qr_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\" ...></svg>".into(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct TotpCode {
    /// The 6-digit code the authenticator app shows now.
    #[oai(validator(max_length = 16))]
    pub code: Text,
}

impl poem_openapi::types::Example for TotpCode {
    fn example() -> Self {
        TotpCode {
            code: Text("123456".into()),
        }
    }
}

/// Recovery codes, shown this once: the server keeps only their hashes.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

impl poem_openapi::types::Example for RecoveryCodes {
    fn example() -> Self {
        RecoveryCodes {
            recovery_codes: vec!["3f9a1-c07d2-98be4-51a0c".into()],
        }
    }
}

/// The account's second factors.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SecondFactorStatus {
    /// Whether this server can turn TOTP on (it has a secret key).
    pub totp_available: bool,
    /// Whether TOTP is on for this account.
    pub totp_enabled: bool,
    /// Unused recovery codes left.
    pub recovery_codes_left: u64,
}

impl poem_openapi::types::Example for SecondFactorStatus {
    fn example() -> Self {
        SecondFactorStatus {
            totp_available: true,
            totp_enabled: true,
            recovery_codes_left: 9,
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum SecondFactorPassed {
    /// Logged in. `Set-Cookie` carries the same session under a new token: the cookie of the
    /// half-open session no longer works.
    #[oai(status = 200)]
    Ok(
        DirectJson<User>,
        /// The HttpOnly session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

api_errors! {
    /// Errors of the second step of a login.
    SecondStepError {
        plain: [
            400 BadRequest "Malformed body, or not exactly one of `code`, `recovery_code` and `passkey`, or a `passkey` credential that is not a WebAuthn assertion (`bad_request`); a passkey ceremony that is unknown, expired, already used or begun by another session (`invalid_challenge`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`): a half-open session lives a few minutes (`SPA_AUTH_SECOND_FACTOR_TIMEOUT`). The response clears the cookie.",
            403 Forbidden "A wrong, expired or already used code, or a passkey that does not verify (`invalid_code`), TOTP or passkeys not offered by this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            409 Conflict "A complete session: it has no second step to take (`conflict`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many wrong codes for this account (`too_many_requests`).",
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of changing second factors.
    SecondFactorChangeError {
        plain: [
            400 BadRequest "Malformed body (`bad_request`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "The session's last proof of identity is older than the reauth window (`reauthentication_required`), a wrong code (`invalid_code`), no secret key on this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            409 Conflict "A change that does not fit the account: TOTP already on, or not on, or no enrolment to confirm (`conflict`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of re-authentication.
    ReauthenticateError {
        plain: [
            400 BadRequest "Malformed body, more than one of `code`, `recovery_code` and `passkey`, neither `password` nor `passkey`, or a `passkey` credential that is not a WebAuthn assertion (`bad_request`); a passkey ceremony that is unknown, expired, already used or begun by another session (`invalid_challenge`).",
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
            403 Forbidden "Wrong password (`wrong_current_password`), a wrong or used code or a passkey that does not verify (`invalid_code`), passkeys not offered by this server (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            409 Conflict "A password without a code for an account with a second factor (`conflict`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many wrong passwords or codes for this account or address (`too_many_requests`).",
            503 Unavailable "Too many password checks waiting, or the database is unavailable (`unavailable`).",
        ],
    }
}

api_errors! {
    /// Errors of reading the account's second factors.
    StatusError {
        plain: [
            401 Unauthorized "No session cookie, or its session has ended or expired (`not_authenticated`), or it awaits its second factor (`second_factor_required`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Debug, ApiResponse)]
pub enum EnrolmentOk {
    /// A new secret; TOTP turns on once a code from it is confirmed.
    #[oai(status = 200)]
    Ok(Json<TotpEnrolment>),
}

#[derive(Debug, ApiResponse)]
pub enum CodesOk {
    /// The recovery codes, shown this once.
    #[oai(status = 200)]
    Ok(Json<RecoveryCodes>),
}

#[derive(Debug, ApiResponse)]
pub enum StatusOk {
    /// The account's second factors.
    #[oai(status = 200)]
    Ok(Json<SecondFactorStatus>),
}

#[derive(Debug, ApiResponse)]
pub enum TotpDisabled {
    /// TOTP is off, the recovery codes are gone, and every session of the user has ended,
    /// this one too.
    #[oai(status = 204)]
    Disabled(
        /// Clears the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum Reauthenticated {
    /// The session's proof of identity is fresh: step-up operations pass for
    /// `SPA_AUTH_REAUTH_WINDOW`.
    #[oai(status = 204)]
    Done,
}

#[derive(Default)]
pub struct SecondFactorApi;

#[OpenApi]
impl SecondFactorApi {
    /// Complete the second step of a login
    ///
    /// With the cookie of a session that awaits its second factor (login answered 202): a
    /// code from the authenticator app or a recovery code. The session continues under a new
    /// token with its full lifetime. Wrong codes are throttled per account.
    #[oai(
        path = "/api/auth/second-factor",
        method = "post",
        tag = "Tag::SecondFactor"
    )]
    async fn second_factor(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: PendingAuth,
        body: Json<SecondFactorProof>,
    ) -> Result<SecondFactorPassed, SecondStepError> {
        Ok(complete(req, &state, auth, body.0).await?)
    }

    /// My second factors
    ///
    /// Whether TOTP is on, can be turned on here, and how many recovery codes are left.
    #[oai(path = "/api/auth/totp", method = "get", tag = "Tag::SecondFactor")]
    async fn status(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<StatusOk, StatusError> {
        let user_id = auth.current.user.id;
        let methods = second_factor::methods_of(&state.db, user_id)
            .await
            .map_err(ApiError::from)?;
        let left = second_factor::recovery_codes_left(&state.db, user_id)
            .await
            .map_err(ApiError::from)?;
        Ok(StatusOk::Ok(Json(SecondFactorStatus {
            totp_available: state.second_factor.totp_enabled(),
            totp_enabled: methods.contains(&"totp"),
            recovery_codes_left: left,
        })))
    }

    /// Start turning TOTP on
    ///
    /// Makes a new secret and returns it with its `otpauth://` URI and a QR code (SVG). TOTP
    /// is not asked for until a code from it is confirmed. Step-up: needs a recent login.
    #[oai(path = "/api/auth/totp", method = "post", tag = "Tag::SecondFactor")]
    async fn enrol(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<EnrolmentOk, SecondFactorChangeError> {
        let enrolment = second_factor::enrol_totp(&state, &auth.current)
            .await
            .map_err(ApiError::from)?;
        Ok(EnrolmentOk::Ok(Json(TotpEnrolment {
            secret: enrolment.secret,
            otpauth_uri: enrolment.uri,
            qr_svg: enrolment.qr_svg,
        })))
    }

    /// Turn TOTP on
    ///
    /// Confirms the enrolment with a code from the app; from the next login on, the code is
    /// asked for. Returns 10 recovery codes, shown this once.
    #[oai(
        path = "/api/auth/totp/confirm",
        method = "post",
        tag = "Tag::SecondFactor"
    )]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: Json<TotpCode>,
    ) -> Result<CodesOk, SecondFactorChangeError> {
        let codes = second_factor::confirm_totp(&state, &auth.current, &body.0.code.0)
            .await
            .map_err(ApiError::from)?;
        Ok(CodesOk::Ok(Json(RecoveryCodes {
            recovery_codes: codes,
        })))
    }

    /// Turn TOTP off
    ///
    /// Removes the authenticator and the recovery codes and ends every session of the user,
    /// this one too. Step-up: needs a recent login.
    #[oai(path = "/api/auth/totp", method = "delete", tag = "Tag::SecondFactor")]
    async fn disable(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<TotpDisabled, SecondFactorChangeError> {
        second_factor::disable_totp(&state, &auth.current)
            .await
            .map_err(ApiError::from)?;
        Ok(TotpDisabled::Disabled(state.sessions.clear_cookie()))
    }

    /// New recovery codes
    ///
    /// Replaces every recovery code; the old ones stop working. Step-up: needs a recent login.
    #[oai(
        path = "/api/auth/recovery-codes",
        method = "post",
        tag = "Tag::SecondFactor"
    )]
    async fn regenerate(
        &self,
        state: Data<&AppState>,
        auth: SessionAuth,
    ) -> Result<CodesOk, SecondFactorChangeError> {
        let codes = second_factor::regenerate_recovery_codes(&state, &auth.current)
            .await
            .map_err(ApiError::from)?;
        Ok(CodesOk::Ok(Json(RecoveryCodes {
            recovery_codes: codes,
        })))
    }

    /// Re-authenticate
    ///
    /// The password again (and, with TOTP, a code): refreshes the session's proof of
    /// identity, so that step-up operations (password and address changes, second-factor
    /// changes, ending other sessions) pass for `SPA_AUTH_REAUTH_WINDOW`. Throttled like a
    /// login.
    #[oai(
        path = "/api/auth/reauthenticate",
        method = "post",
        tag = "Tag::SecondFactor"
    )]
    async fn reauthenticate(
        &self,
        req: &Request,
        state: Data<&AppState>,
        auth: SessionAuth,
        body: Json<Reauthentication>,
    ) -> Result<Reauthenticated, ReauthenticateError> {
        Ok(reauthenticate(req, &state, auth, body.0).await?)
    }
}

async fn complete(
    req: &Request,
    state: &AppState,
    auth: PendingAuth,
    body: SecondFactorProof,
) -> Result<SecondFactorPassed, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let proof = proof(body.code, body.recovery_code, body.passkey)?
        .ok_or_else(|| ApiError::BadRequest("give `code`, `recovery_code` or `passkey`".into()))?;
    let opened = second_factor::complete(state, &auth.current, &proof, &client).await?;
    let cookie = state.sessions.cookie(&opened.token, &opened.session);
    Ok(SecondFactorPassed::Ok(
        DirectJson(opened.user.into()),
        cookie,
    ))
}

async fn reauthenticate(
    req: &Request,
    state: &AppState,
    auth: SessionAuth,
    body: Reauthentication,
) -> Result<Reauthenticated, ApiError> {
    let client = client_info(req, state.trust_proxy);
    let proof = proof(body.code, body.recovery_code, body.passkey)?;
    let password = body.password.map(|p| Password::new(p.0));
    second_factor::reauthenticate(
        state,
        &auth.current,
        password.as_ref(),
        proof.as_ref(),
        &client,
    )
    .await?;
    Ok(Reauthenticated::Done)
}
