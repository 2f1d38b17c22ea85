//! The single-use tokens mailed in links: 32 random bytes (the shape of a session token),
//! stored only as SHA-256, with a purpose, a deadline and a *binding*: a fingerprint of what
//! must not have changed for the token to work.

use chrono::{Duration, Utc};
use entity::account_token;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::sessions::Token;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    Invite,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::Invite => "invite",
        }
    }
}

/// What a token is for and what it is bound to.
pub struct NewToken<'a> {
    pub purpose: Purpose,
    pub user_id: Option<Uuid>,
    pub email: &'a str,
    pub binding: String,
    pub data: Option<serde_json::Value>,
    pub ttl: Duration,
}

/// Makes a token and stores its hash. Any earlier unused token for the same purpose and user
/// (or, for an invitation, the same address) is deleted: only the newest link works.
pub async fn mint<C: ConnectionTrait>(db: &C, new: NewToken<'_>) -> Result<Token, MintError> {
    let token = Token::generate()?;
    let now = Utc::now();
    let mut older = account_token::Entity::delete_many()
        .filter(account_token::Column::Purpose.eq(new.purpose.as_str()))
        .filter(account_token::Column::UsedAt.is_null());
    older = match new.user_id {
        Some(id) => older.filter(account_token::Column::UserId.eq(id)),
        None => older.filter(account_token::Column::Email.eq(new.email)),
    };
    older.exec(db).await?;
    account_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        purpose: Set(new.purpose.as_str().to_owned()),
        token_hash: Set(token.hash()),
        user_id: Set(new.user_id),
        email: Set(new.email.to_owned()),
        binding: Set(new.binding),
        data: Set(new.data),
        created_at: Set(now),
        expires_at: Set(now + new.ttl),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("no randomness: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Uses up the token `raw` for `purpose`: the token's row if it was live and of that purpose,
/// and it is now spent; `None` otherwise (unknown, expired, used, another purpose, malformed).
/// One conditional UPDATE decides, so two requests racing with the same token cannot both
/// have it. The caller checks the binding, in the same transaction as what the token allows.
pub async fn take<C: ConnectionTrait>(
    db: &C,
    purpose: Purpose,
    raw: &str,
) -> Result<Option<account_token::Model>, DbErr> {
    // Junk never reaches the database, and a lookup by hash compares no secret byte by byte.
    let Some(token) = Token::parse(raw) else {
        return Ok(None);
    };
    let hash = token.hash();
    let now = Utc::now();
    let res = account_token::Entity::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(account_token::Column::TokenHash.eq(hash.clone()))
        .filter(account_token::Column::Purpose.eq(purpose.as_str()))
        .filter(account_token::Column::UsedAt.is_null())
        .filter(account_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    account_token::Entity::find()
        .filter(account_token::Column::TokenHash.eq(hash))
        .one(db)
        .await
}

/// The live token `raw` for `purpose`, without spending it: to check what it allows (the new
/// password's rules, say) before [`take`] spends it together with the change.
pub async fn peek<C: ConnectionTrait>(
    db: &C,
    purpose: Purpose,
    raw: &str,
) -> Result<Option<account_token::Model>, DbErr> {
    let Some(token) = Token::parse(raw) else {
        return Ok(None);
    };
    account_token::Entity::find()
        .filter(account_token::Column::TokenHash.eq(token.hash()))
        .filter(account_token::Column::Purpose.eq(purpose.as_str()))
        .filter(account_token::Column::UsedAt.is_null())
        .filter(account_token::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await
}

/// Deletes every unused token of `purpose` for the user (a password or address changed, so
/// links mailed before must die).
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<(), DbErr> {
    account_token::Entity::delete_many()
        .filter(account_token::Column::UserId.eq(user_id))
        .filter(account_token::Column::Purpose.eq(purpose.as_str()))
        .filter(account_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes tokens past their deadline or used; run with the session purge.
pub async fn purge<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let now = Utc::now();
    let res = account_token::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(account_token::Column::ExpiresAt.lte(now))
                .add(account_token::Column::UsedAt.is_not_null()),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The binding of a password-reset token: the stored password hash and the address it was
/// mailed to. A password change (any: reset, API, CLI, import) or an address change makes
/// every earlier reset link dead, without anyone having to remember to revoke them.
pub fn reset_binding(password_hash: Option<&str>, email: &str) -> String {
    let mut h = Sha256::new();
    h.update(password_hash.unwrap_or("").as_bytes());
    h.update([0]);
    h.update(email.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
