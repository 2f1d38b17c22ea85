//! Signing up: open to anyone with an address they prove they receive mail at, or only with
//! an invitation (`spa-auth invite create`).
//!
//! An anonymous caller must not learn which addresses have accounts. Whether the address is
//! free or taken, sign-up does the same work (a password hash, one attempted insert, one mail
//! queued) and answers the same 202: a new account gets "confirm your address", the owner of
//! an existing one gets "someone tried to sign up with your address". A taken *username* is
//! answered as such (409): a sign-up form that cannot say so is unusable, and a username is
//! the public name an account is known by, not a way to reach a person.

use entity::user;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use super::{AccountError, Signup, email::limit, tokens, valid_email};
use crate::{
    mail::{MailKind, outbox},
    passwords::{Password, check_new_password},
    services::Services,
    users::{self, NewUser, UserError},
};

/// What the caller asked for.
#[derive(Debug)]
pub struct SignupRequest {
    pub username: String,
    /// Required for open sign-up; with an invitation the invited address is used.
    pub email: Option<String>,
    pub password: Password,
    pub first_name: String,
    pub last_name: String,
    /// The invitation's token, from the link (`/signup#invite=…`).
    pub invite: Option<String>,
}

/// How sign-up went.
#[derive(Debug)]
pub enum SignedUp {
    /// Mail is on its way: confirm the address to finish (or, for a taken address, a notice
    /// to its owner). The caller cannot tell which.
    MailSent,
    /// An invitation was accepted: the account exists, its address counts as verified (the
    /// invitation was mailed to it), and the user may log in.
    Created(Box<user::Model>),
}

pub async fn sign_up(
    state: &Services,
    req: SignupRequest,
    ip: Option<&str>,
) -> Result<SignedUp, AccountError> {
    let accounts = &state.accounts;
    match accounts.settings.signup {
        Signup::Closed => Err(AccountError::NotEnabled(
            "sign-up is closed: ask an administrator for an account",
        )),
        Signup::Open if req.invite.is_some() => {
            Err(AccountError::BadRequest("this server takes no invitations"))
        }
        Signup::Open => open(state, req, ip).await,
        Signup::Invite => invited(state, req, ip).await,
    }
}

async fn open(
    state: &Services,
    req: SignupRequest,
    ip: Option<&str>,
) -> Result<SignedUp, AccountError> {
    let accounts = &state.accounts;
    super::require_mail(accounts)?;
    let email = req
        .email
        .as_deref()
        .map(str::trim)
        .ok_or(AccountError::BadRequest("email is required"))?
        .to_owned();
    check(&req, &email)?;
    // Per address and per client IP, before the password is hashed, so that a burst is held
    // to the limit and costs no hashing past it.
    limit(state, "signup", &email, ip).await?;
    let hash = state.passwords.hash(&req.password).await?;
    let new = NewUser {
        username: req.username,
        email: email.clone(),
        first_name: req.first_name,
        last_name: req.last_name,
    };
    let txn = state.db.begin().await?;
    match users::create_in(&txn, new, Some(hash), false).await {
        Ok(user) => {
            let params = json!({ "user_id": user.id, "email": email });
            outbox::enqueue(&txn, MailKind::VerifyEmail, &email, params).await?;
            txn.commit().await?;
            outbox::wake();
            tracing::info!(target: "audit", event = "signed_up", user_id = %user.id, ip);
        }
        Err(UserError::EmailTaken) => {
            txn.rollback().await?;
            // The owner hears of it, the caller learns nothing. A failure here must answer
            // like success too, or an outage of the outbox would tell taken from free.
            let owner = user::Entity::find()
                .filter(user::Column::EmailKey.eq(users::email_key(&email)))
                .one(&state.db)
                .await?;
            if let Some(owner) = owner {
                let params = json!({});
                outbox::enqueue(&state.db, MailKind::SignupAttempted, &owner.email, params).await?;
                outbox::wake();
            }
            tracing::info!(target: "audit", event = "signup_with_taken_email", ip);
        }
        Err(e) => {
            txn.rollback().await?;
            return Err(e.into());
        }
    }
    Ok(SignedUp::MailSent)
}

async fn invited(
    state: &Services,
    req: SignupRequest,
    ip: Option<&str>,
) -> Result<SignedUp, AccountError> {
    super::require_mail(&state.accounts)?;
    // Not a malformed request: this server's policy, which the form should show as such.
    let raw = req.invite.as_deref().ok_or(AccountError::NotEnabled(
        "sign-up is by invitation: follow the link of your invitation",
    ))?;
    let invitation = tokens::peek(&state.db, tokens::Purpose::Invite, raw)
        .await?
        .ok_or(AccountError::InvalidToken)?;
    let email = invitation.email.clone();
    check(&req, &email)?;
    // Per address and per client IP, before the password is hashed, so that a burst is held
    // to the limit and costs no hashing past it.
    limit(state, "signup", &email, ip).await?;
    let hash = state.passwords.hash(&req.password).await?;
    let roles: Vec<String> = invitation
        .data
        .as_ref()
        .and_then(|d| d.get("roles"))
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default();
    let txn = state.db.begin().await?;
    // Spent together with the account's creation: a failure below gives it back.
    if tokens::take(&txn, tokens::Purpose::Invite, raw)
        .await?
        .is_none()
    {
        txn.rollback().await?;
        return Err(AccountError::InvalidToken);
    }
    let new = NewUser {
        username: req.username,
        email,
        first_name: req.first_name,
        last_name: req.last_name,
    };
    let user = match users::create_in(&txn, new, Some(hash), true).await {
        Ok(user) => user,
        Err(e) => {
            txn.rollback().await?;
            return Err(e.into());
        }
    };
    let user = users::set_roles_in(&txn, user, roles).await?;
    txn.commit().await?;
    tracing::info!(target: "audit", event = "signed_up_by_invitation", user_id = %user.id, ip);
    Ok(SignedUp::Created(Box::new(user)))
}

/// The checks that need no database: username, address, password rules.
fn check(req: &SignupRequest, email: &str) -> Result<(), AccountError> {
    if !users::valid_username(&req.username) {
        return Err(AccountError::InvalidUsername);
    }
    if !valid_email(email) {
        return Err(AccountError::InvalidEmail);
    }
    for name in [&req.first_name, &req.last_name] {
        if name.chars().count() > 150 {
            return Err(AccountError::BadRequest("names are at most 150 characters"));
        }
        // A NUL would be refused by PostgreSQL as an error, and no name needs a control
        // character: refused here, never sent to the database.
        if name.chars().any(char::is_control) {
            return Err(AccountError::BadRequest(
                "names cannot contain control characters",
            ));
        }
    }
    check_new_password(req.password.expose(), &req.username)?;
    Ok(())
}
