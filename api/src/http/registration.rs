//! Accounts people run themselves: sign-up, proving an address, resetting a forgotten
//! password. The flows are in `accounts`; this declares them and translates.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{Tag, Text, User, client_info};
use crate::{
    accounts::{self, signup::SignupRequest},
    http::errors::{ApiError, api_errors},
    http::json::DirectJson,
    http::state::AppState,
    passwords::Password,
};

/// A new account.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SignupBody {
    /// 1 to 150 characters: letters, digits and `@ . + - _`; unique ignoring case.
    #[oai(validator(max_length = 150))]
    pub username: Text,
    /// Required for open sign-up; with an invitation, the invited address is used and this
    /// is ignored.
    #[oai(validator(max_length = 254))]
    pub email: Option<Text>,
    /// 8 to 1024 characters, not a common password, not the username.
    #[oai(validator(max_length = 1024))]
    pub password: Text,
    #[oai(validator(max_length = 150))]
    pub first_name: Option<Text>,
    #[oai(validator(max_length = 150))]
    pub last_name: Option<Text>,
    /// The invitation's token, from the invitation link (`/signup#invite=…`).
    #[oai(validator(max_length = 128))]
    pub invite: Option<Text>,
}

impl poem_openapi::types::Example for SignupBody {
    fn example() -> Self {
        SignupBody {
            username: Text("alice".into()),
            email: Some(Text("alice@example.com".into())),
            password: Text("a longer passphrase nobody guesses".into()),
            first_name: Some(Text("Alice".into())),
            last_name: Some(Text("Liddell".into())),
            invite: None,
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum SignupOk {
    /// Accepted: a link to confirm the address is on its way. The same answer when the
    /// address already has an account (its owner is told instead), so that sign-up cannot be
    /// used to find out who has one.
    #[oai(status = 202)]
    MailSent,
    /// Created from an invitation: the address counts as verified; log in to start a session.
    #[oai(status = 201)]
    Created(DirectJson<User>),
}

api_errors! {
    /// Errors of sign-up.
    SignupError {
        plain: [
            400 BadRequest "Malformed body or username (`bad_request`), an address mail cannot be sent to (`invalid_email`), a password that breaks a rule (`password_rejected`), or an invitation that is unknown, expired or used (`invalid_token`).",
            403 Forbidden "Sign-up is closed, or by invitation and none was given, or this server sends no mail (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            409 Conflict "The username is taken (`username_taken`), or, with an invitation, the invited address already has an account (`email_taken`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many sign-ups for this address or from this client (`too_many_requests`).",
            503 Unavailable "Too many requests waiting for a password hash, or the database is unavailable (`unavailable`).",
        ],
    }
}

/// A token from a mailed link.
#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenBody {
    /// The `token` of the link's fragment (`#token=…`).
    #[oai(validator(max_length = 128))]
    pub token: Text,
}

impl poem_openapi::types::Example for TokenBody {
    fn example() -> Self {
        TokenBody {
            token: Text("q3Xy7Yk4bJ0m8ZC7mEoVt6s9cQx2l1pNwR5aF0dKjHs".into()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum Verified {
    /// The address is verified (and, after a change, is now the account's).
    #[oai(status = 204)]
    Verified,
}

api_errors! {
    /// Errors of verifying an address.
    VerifyError {
        plain: [
            400 BadRequest "Malformed body (`bad_request`), or a link that is unknown, expired, used or superseded (`invalid_token`).",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            409 Conflict "Another account took this address meanwhile (`email_taken`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

/// An address to mail a link to.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EmailBody {
    #[oai(validator(max_length = 254))]
    pub email: Text,
}

impl poem_openapi::types::Example for EmailBody {
    fn example() -> Self {
        EmailBody {
            email: Text("alice@example.com".into()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum MailQueued {
    /// Accepted. If an account is waiting for this mail, it is on its way; the answer is the
    /// same, in the same time, when none is.
    #[oai(status = 202)]
    Accepted,
}

api_errors! {
    /// Errors of asking for a mailed link.
    MailRequestError {
        plain: [
            400 BadRequest "Malformed body (`bad_request`), or an address mail cannot be sent to (`invalid_email`).",
            403 Forbidden "This server sends no mail (`not_enabled`), or a cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            429 TooManyRequests "Too many requests for this address or from this client (`too_many_requests`).",
            503 Unavailable "The database is unavailable (`unavailable`).",
        ],
    }
}

/// A new password, with the token from a reset link.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasswordResetBody {
    /// The `token` of the link's fragment (`#token=…`).
    #[oai(validator(max_length = 128))]
    pub token: Text,
    /// 8 to 1024 characters, not a common password, not the username.
    #[oai(validator(max_length = 1024))]
    pub new_password: Text,
}

impl poem_openapi::types::Example for PasswordResetBody {
    fn example() -> Self {
        PasswordResetBody {
            token: TokenBody::example().token,
            new_password: Text("a longer passphrase nobody guesses".into()),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum PasswordReset {
    /// The password is set. Every session of the account has ended; log in with the new
    /// password.
    #[oai(status = 204)]
    Reset,
}

api_errors! {
    /// Errors of resetting a password.
    ResetError {
        plain: [
            400 BadRequest "Malformed body (`bad_request`), a password that breaks a rule (`password_rejected`; the link still works), or a link that is unknown, expired, used, superseded, or dead because the password or address changed (`invalid_token`).",
            403 Forbidden "A cross-site request from a browser (`csrf_rejected`).",
            408 RequestTimeout "The body did not arrive in time (`request_timeout`).",
            413 PayloadTooLarge "The body is too large (`payload_too_large`).",
            415 UnsupportedMediaType "The body is not `application/json` (`unsupported_media_type`).",
        ],
        retry: [
            503 Unavailable "Too many requests waiting for a password hash, or the database is unavailable (`unavailable`).",
        ],
    }
}

#[derive(Default)]
pub struct RegistrationApi;

#[OpenApi]
impl RegistrationApi {
    /// Sign up
    ///
    /// Creates an account when sign-up is open (`SPA_AUTH_SIGNUP=open`: a link to confirm the
    /// address is mailed) or with an invitation (`invite`). Opens no session: log in next.
    #[oai(path = "/api/auth/signup", method = "post", tag = "Tag::Registration")]
    async fn sign_up(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<SignupBody>,
    ) -> Result<SignupOk, SignupError> {
        let ip = client_info(req, state.trust_proxy).ip;
        let b = body.0;
        let request = SignupRequest {
            username: b.username.0,
            email: b.email.map(|t| t.0),
            password: Password::new(b.password.0),
            first_name: b.first_name.map(|t| t.0).unwrap_or_default(),
            last_name: b.last_name.map(|t| t.0).unwrap_or_default(),
            invite: b.invite.map(|t| t.0),
        };
        let done = accounts::signup::sign_up(&state, request, ip.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(match done {
            accounts::signup::SignedUp::MailSent => SignupOk::MailSent,
            accounts::signup::SignedUp::Created(user) => {
                SignupOk::Created(DirectJson((*user).into()))
            }
        })
    }

    /// Verify an email address
    ///
    /// With the token from the link mailed on sign-up, on request, or on an address change.
    #[oai(
        path = "/api/auth/email/verify",
        method = "post",
        tag = "Tag::Registration"
    )]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        body: Json<TokenBody>,
    ) -> Result<Verified, VerifyError> {
        accounts::email::verify(&state, &body.0.token.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Verified::Verified)
    }

    /// Mail a new verification link
    ///
    /// For an account whose address is not verified yet. Answers the same whether or not one
    /// has this address.
    #[oai(
        path = "/api/auth/email/resend",
        method = "post",
        tag = "Tag::Registration"
    )]
    async fn resend(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<EmailBody>,
    ) -> Result<MailQueued, MailRequestError> {
        let ip = client_info(req, state.trust_proxy).ip;
        accounts::email::resend(&state, &body.0.email.0, ip.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(MailQueued::Accepted)
    }

    /// Ask for a password-reset link
    ///
    /// Mails a link to reset the password to the account with this address, if there is one.
    /// The answer is the same, in the same time, whether or not there is.
    #[oai(
        path = "/api/auth/password-reset",
        method = "post",
        tag = "Tag::Registration"
    )]
    async fn request_reset(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<EmailBody>,
    ) -> Result<MailQueued, MailRequestError> {
        let ip = client_info(req, state.trust_proxy).ip;
        accounts::reset::request(&state, &body.0.email.0, ip.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(MailQueued::Accepted)
    }

    /// Reset a password
    ///
    /// Sets a new password with the token from a reset link. Every session of the account
    /// ends, and a notice is mailed.
    #[oai(
        path = "/api/auth/password-reset/confirm",
        method = "post",
        tag = "Tag::Registration"
    )]
    async fn reset_password(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<PasswordResetBody>,
    ) -> Result<PasswordReset, ResetError> {
        let ip = client_info(req, state.trust_proxy).ip;
        let new = Password::new(body.0.new_password.0);
        accounts::reset::confirm(&state, &body.0.token.0, &new, ip.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(PasswordReset::Reset)
    }
}
