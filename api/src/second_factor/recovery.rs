//! Recovery codes: random, shown once, stored as SHA-256, each spent by a conditional UPDATE.

use chrono::Utc;
use entity::recovery_code;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{RECOVERY_CODES, SecondFactorError};

/// 80 random bits as 20 hex digits in groups of five: nothing to mistype between 0 and O,
/// and too many to guess under the throttle.
fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let groups: Vec<&str> = (0..4).filter_map(|i| hex.get(i * 5..i * 5 + 5)).collect();
    Ok(groups.join("-"))
}

/// The code as typed, without dashes, spaces or case: `ABCDE-12345` is `abcde12345`.
fn hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// Replaces every recovery code of the user with new ones; returns them in clear, once.
pub(super) async fn replace<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Vec<String>, SecondFactorError> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let now = Utc::now();
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let code = generate().map_err(super::SealError::from)?;
        recovery_code::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(user_id),
            code_hash: Set(hash(&code)),
            created_at: Set(now),
            used_at: Set(None),
        }
        .insert(db)
        .await?;
        codes.push(code);
    }
    Ok(codes)
}

/// Spends a code: true only for the one request whose UPDATE found it unused.
pub(super) async fn spend<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    code: &str,
) -> Result<bool, sea_orm::DbErr> {
    let updated = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(Utc::now()))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(hash(code)))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_compared_without_dashes_spaces_or_case() {
        let code = generate().expect("random");
        assert_eq!(code.len(), 23);
        assert_eq!(hash(&code), hash(&code.replace('-', " ").to_uppercase()));
        assert_ne!(hash(&code), hash("00000-00000-00000-00000"));
    }
}
