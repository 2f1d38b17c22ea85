//! The server's half of a ceremony, stored between its two requests: begun on any instance,
//! finished on any other, good once, and only until its deadline.

use chrono::Utc;
use entity::passkey_ceremony;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use super::PasskeyError;
use crate::services::Services;

/// What a ceremony is for; a ceremony of one kind cannot finish another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Registering a passkey for the session's user.
    Register,
    /// The session's user proving themselves with one of their passkeys.
    Prove,
    /// Passwordless login: the authenticator says whose passkey it is.
    Discover,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::Prove => "prove",
            Kind::Discover => "discover",
        }
    }
}

/// Stores `state` and returns the ceremony's id, which the client sends back.
pub(super) async fn begin<S: Serialize>(
    state: &Services,
    kind: Kind,
    session_id: Option<Uuid>,
    verifier_state: &S,
) -> Result<Uuid, PasskeyError> {
    let id = Uuid::new_v4();
    let serialised =
        serde_json::to_string(verifier_state).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let lifetime = chrono::Duration::from_std(state.passkeys.challenge_timeout())
        .map_err(|e| PasskeyError::Internal(e.to_string()))?;
    passkey_ceremony::ActiveModel {
        id: Set(id),
        kind: Set(kind.as_str().to_owned()),
        session_id: Set(session_id),
        state: Set(serialised),
        expires_at: Set(Utc::now() + lifetime),
    }
    .insert(&state.db)
    .await?;
    Ok(id)
}

/// Takes the ceremony `id` out of the store: whoever deletes the row owns it, so of two
/// requests racing with one ceremony at most one gets it. Unknown, already taken, expired,
/// of another kind or begun by another session: [`PasskeyError::InvalidChallenge`].
pub(super) async fn take<S: DeserializeOwned>(
    state: &Services,
    id: Uuid,
    kind: Kind,
    session_id: Option<Uuid>,
) -> Result<S, PasskeyError> {
    let Some(row) = passkey_ceremony::Entity::find_by_id(id)
        .one(&state.db)
        .await?
    else {
        return Err(PasskeyError::InvalidChallenge);
    };
    let deleted = passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::Id.eq(id))
        .exec(&state.db)
        .await?;
    let fits = row.kind == kind.as_str() && row.session_id == session_id;
    if deleted.rows_affected != 1 || row.expires_at <= Utc::now() || !fits {
        return Err(PasskeyError::InvalidChallenge);
    }
    serde_json::from_str(&row.state).map_err(|e| PasskeyError::Internal(e.to_string()))
}

/// Deletes the ceremonies past their deadline, begun and never finished.
pub async fn purge<C: sea_orm::ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let res = passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::ExpiresAt.lte(Utc::now()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
