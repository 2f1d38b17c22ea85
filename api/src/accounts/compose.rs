//! Turns an outbox row into a message at the moment it is delivered: looks up who it is for,
//! makes the link's token (stored only as a hash) and fills the template's variables. A row
//! whose message no longer makes sense (no account has that address, the address was verified
//! meanwhile) composes to nothing and is dropped unsent.

use chrono::Duration;
use entity::{mail_outbox, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    Accounts, human_duration,
    tokens::{self, NewToken, Purpose},
};
use crate::{
    mail::{ComposeError, Composed, MailKind},
    users,
};

fn param<'a>(row: &'a mail_outbox::Model, name: &str) -> Option<&'a str> {
    row.params.get(name).and_then(Value::as_str)
}

fn ttl(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

fn vars(pairs: Value) -> Map<String, Value> {
    match pairs {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The message for `row`, or `None` to drop it.
pub async fn compose(
    db: &DatabaseConnection,
    accounts: &Accounts,
    row: &mail_outbox::Model,
) -> Result<Option<Composed>, ComposeError> {
    let kind = MailKind::parse(&row.kind)
        .ok_or_else(|| ComposeError::Invalid(format!("unknown mail kind {:?}", row.kind)))?;
    let site = accounts.public_url.clone().unwrap_or_default();
    let link = |path: &str, frag: Option<(&str, &str)>| {
        accounts
            .link(path, frag)
            .ok_or_else(|| ComposeError::Invalid("no public URL to build links from".into()))
    };
    let composed = |to: String, vars: Map<String, Value>| {
        let mut vars = vars;
        vars.insert("site".into(), Value::String(site.clone()));
        Some(Composed { kind, to, vars })
    };
    Ok(match kind {
        MailKind::VerifyEmail => {
            // For a user (sign-up, email change), or for an address (an anonymous resend).
            let email = param(row, "email").unwrap_or(&row.recipient).to_owned();
            let user = match param(row, "user_id").and_then(|s| s.parse::<Uuid>().ok()) {
                Some(id) => users::find_by_id(db, id).await?,
                None => match users::email_key(&email) {
                    Some(key) => {
                        user::Entity::find()
                            .filter(user::Column::EmailKey.eq(key))
                            .one(db)
                            .await?
                    }
                    None => None,
                },
            };
            let Some(user) = user.filter(|u| u.is_active) else {
                return Ok(None);
            };
            let already = user.email_verified_at.is_some() && user.email == email;
            if already {
                return Ok(None);
            }
            let ttl_std = accounts.settings.verify_token_ttl;
            let token = tokens::mint(
                db,
                NewToken {
                    purpose: Purpose::VerifyEmail,
                    user_id: Some(user.id),
                    email: &email,
                    binding: user.email.clone(),
                    data: None,
                    ttl: ttl(ttl_std),
                },
            )
            .await
            .map_err(mint_error)?;
            let link = link("/verify-email", Some(("token", token.expose())))?;
            composed(
                email,
                vars(json!({
                    "username": user.username,
                    "link": link,
                    "expires_in": human_duration(ttl_std),
                })),
            )
        }
        MailKind::PasswordReset => {
            let Some(key) = users::email_key(&row.recipient) else {
                return Ok(None);
            };
            let found = user::Entity::find()
                .filter(user::Column::EmailKey.eq(key))
                .one(db)
                .await?;
            let Some(user) = found.filter(|u| u.is_active) else {
                // Nobody has this address: nothing is sent, and the caller was told the same
                // as if somebody had.
                return Ok(None);
            };
            let ttl_std = accounts.settings.reset_token_ttl;
            let token = tokens::mint(
                db,
                NewToken {
                    purpose: Purpose::ResetPassword,
                    user_id: Some(user.id),
                    email: &user.email,
                    binding: tokens::reset_binding(user.password_hash.as_deref(), &user.email),
                    data: None,
                    ttl: ttl(ttl_std),
                },
            )
            .await
            .map_err(mint_error)?;
            let link = link("/reset-password", Some(("token", token.expose())))?;
            composed(
                user.email.clone(),
                vars(json!({
                    "username": user.username,
                    "link": link,
                    "expires_in": human_duration(ttl_std),
                })),
            )
        }
        MailKind::Invite => {
            let ttl_std = accounts.settings.invite_ttl;
            let data = row
                .params
                .get("roles")
                .cloned()
                .map(|r| json!({ "roles": r }));
            let token = tokens::mint(
                db,
                NewToken {
                    purpose: Purpose::Invite,
                    user_id: None,
                    email: &row.recipient,
                    binding: String::new(),
                    data,
                    ttl: ttl(ttl_std),
                },
            )
            .await
            .map_err(mint_error)?;
            let link = link("/signup", Some(("invite", token.expose())))?;
            composed(
                row.recipient.clone(),
                vars(json!({ "link": link, "expires_in": human_duration(ttl_std) })),
            )
        }
        MailKind::EmailChangeRequested => composed(
            row.recipient.clone(),
            vars(json!({
                "username": param(row, "username").unwrap_or_default(),
                "new_email": param(row, "new_email").unwrap_or_default(),
            })),
        ),
        MailKind::PasswordChanged => composed(
            row.recipient.clone(),
            vars(json!({
                "username": param(row, "username").unwrap_or_default(),
                "reset_link": link("/forgot-password", None)?,
            })),
        ),
        MailKind::SignupAttempted => composed(
            row.recipient.clone(),
            vars(json!({
                "email": row.recipient,
                "reset_link": link("/forgot-password", None)?,
            })),
        ),
    })
}

fn mint_error(e: tokens::MintError) -> ComposeError {
    match e {
        tokens::MintError::Db(e) => ComposeError::Db(e),
        tokens::MintError::Random(e) => ComposeError::Invalid(e.to_string()),
    }
}
