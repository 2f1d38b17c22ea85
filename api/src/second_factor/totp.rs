//! TOTP (RFC 6238, SHA-1, 6 digits, 30 s steps, one step of skew either way) with `totp-rs`;
//! the secret sealed with the server's key, the QR code drawn server-side as SVG.

use chrono::Utc;
use entity::{totp_secret, user};
use qrcode::{QrCode, render::svg};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use super::{Keys, SecondFactorError, unix_now};

/// What the user needs to add the account to an authenticator app.
#[derive(Debug)]
pub struct Enrolment {
    /// Base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub uri: String,
    /// The QR code of `uri`, as an SVG document.
    pub qr_svg: String,
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp, SecondFactorError> {
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|e| SecondFactorError::Totp(e.to_string()))
}

/// The user's confirmed authenticator, if any.
pub(super) async fn confirmed<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Option<totp_secret::Model>, DbErr> {
    totp_secret::Entity::find_by_id(user_id)
        .filter(totp_secret::Column::ConfirmedAt.is_not_null())
        .one(db)
        .await
}

pub(super) async fn enrol<C: ConnectionTrait>(
    db: &C,
    keys: &Keys,
    issuer: &str,
    user: &user::Model,
) -> Result<Enrolment, SecondFactorError> {
    if confirmed(db, user.id).await?.is_some() {
        return Err(SecondFactorError::Conflict(
            "TOTP is already on: turn it off first to replace the authenticator",
        ));
    }
    // 160 bits, the size RFC 4226 recommends.
    let mut secret = [0u8; 20];
    getrandom::fill(&mut secret).map_err(super::SealError::from)?;
    // The label must not hold a colon; usernames cannot, but the check costs nothing.
    let account = user.username.replace(':', "");
    let t = totp(secret.to_vec(), issuer, &account)?;
    let uri = t
        .to_url()
        .map_err(|e| SecondFactorError::Totp(e.to_string()))?;
    let qr_svg = QrCode::new(uri.as_bytes())
        .map_err(|e| SecondFactorError::Totp(e.to_string()))?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let sealed = keys.seal(user.id, &secret)?;
    // A new enrolment replaces an unconfirmed one: only the latest QR code will confirm.
    totp_secret::Entity::delete_by_id(user.id).exec(db).await?;
    totp_secret::ActiveModel {
        user_id: Set(user.id),
        secret_ciphertext: Set(sealed),
        created_at: Set(Utc::now()),
        confirmed_at: Set(None),
        last_used_step: Set(None),
    }
    .insert(db)
    .await?;
    Ok(Enrolment {
        secret: t.secret().to_base32(),
        uri,
        qr_svg,
    })
}

/// Opens the stored secret; one sealed with the previous key is sealed again with the current
/// one (a compare-and-set on the old ciphertext, so a concurrent change is not overwritten).
async fn open<C: ConnectionTrait>(
    db: &C,
    keys: &Keys,
    row: &totp_secret::Model,
) -> Result<Vec<u8>, SecondFactorError> {
    let opened = keys.open(row.user_id, &row.secret_ciphertext)?;
    if opened.stale {
        let resealed = keys.seal(row.user_id, &opened.plain)?;
        totp_secret::Entity::update_many()
            .col_expr(totp_secret::Column::SecretCiphertext, Expr::value(resealed))
            .filter(totp_secret::Column::UserId.eq(row.user_id))
            .filter(totp_secret::Column::SecretCiphertext.eq(row.secret_ciphertext.clone()))
            .exec(db)
            .await?;
    }
    Ok(opened.plain)
}

/// The step `code` matches now (±1 step), if any.
fn matching_step(secret: Vec<u8>, code: &str) -> Result<Option<i64>, SecondFactorError> {
    let t = totp(secret, "spa-auth", "user")?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    // `check` panics only for 10 or more digits; ours has 6.
    Ok(t.check(&code, unix_now())
        .and_then(|step| i64::try_from(step).ok()))
}

/// Spends `step` of the user's authenticator: true only if no code of this step or a later one
/// was accepted before. `confirmed` picks the confirmed or the unconfirmed secret.
async fn spend_step<C: ConnectionTrait>(
    db: &C,
    row: &totp_secret::Model,
    step: i64,
    confirm: bool,
) -> Result<bool, DbErr> {
    let mut update = totp_secret::Entity::update_many()
        .col_expr(totp_secret::Column::LastUsedStep, Expr::value(step))
        .filter(totp_secret::Column::UserId.eq(row.user_id))
        // The secret the code was checked against, not one replaced meanwhile.
        .filter(totp_secret::Column::SecretCiphertext.eq(row.secret_ciphertext.clone()))
        .filter(
            sea_orm::Condition::any()
                .add(totp_secret::Column::LastUsedStep.is_null())
                .add(totp_secret::Column::LastUsedStep.lt(step)),
        );
    update = match confirm {
        true => update
            .col_expr(totp_secret::Column::ConfirmedAt, Expr::value(Utc::now()))
            .filter(totp_secret::Column::ConfirmedAt.is_null()),
        false => update.filter(totp_secret::Column::ConfirmedAt.is_not_null()),
    };
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Checks and spends a code of the user's confirmed authenticator.
pub(super) async fn verify<C: ConnectionTrait>(
    db: &C,
    keys: &Keys,
    user: &user::Model,
    code: &str,
) -> Result<bool, SecondFactorError> {
    let Some(row) = confirmed(db, user.id).await? else {
        return Ok(false);
    };
    let secret = open(db, keys, &row).await?;
    // Re-read after a re-seal would only change the ciphertext the CAS compares: read again.
    let row = match confirmed(db, user.id).await? {
        Some(row) => row,
        None => return Ok(false),
    };
    match matching_step(secret, code)? {
        Some(step) => Ok(spend_step(db, &row, step, false).await?),
        None => Ok(false),
    }
}

/// Confirms the pending enrolment with a code from it.
pub(super) async fn confirm<C: ConnectionTrait>(
    db: &C,
    keys: &Keys,
    user_id: Uuid,
    code: &str,
) -> Result<(), SecondFactorError> {
    let Some(row) = totp_secret::Entity::find_by_id(user_id).one(db).await? else {
        return Err(SecondFactorError::Conflict(
            "no TOTP enrolment to confirm: start one first",
        ));
    };
    if row.confirmed_at.is_some() {
        return Err(SecondFactorError::Conflict("TOTP is already on"));
    }
    let secret = keys.open(user_id, &row.secret_ciphertext)?.plain;
    match matching_step(secret, code)? {
        Some(step) if spend_step(db, &row, step, true).await? => Ok(()),
        _ => Err(SecondFactorError::InvalidCode),
    }
}
