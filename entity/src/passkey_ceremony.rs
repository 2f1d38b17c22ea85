use sea_orm::entity::prelude::*;

/// The server's half of a WebAuthn ceremony between its two requests: stored, not kept in
/// memory, so that any instance can finish a ceremony another began. Deleted when finished
/// (a challenge is good once) and purged once expired.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_ceremonies")]
pub struct Model {
    /// Random; the client sends it back with the authenticator's answer.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `register`, `prove` (a known user's passkeys) or `discover` (passwordless login).
    pub kind: String,
    /// The session that began it, for ceremonies only that session may finish.
    pub session_id: Option<Uuid>,
    /// The verifier's state (the challenge, and which credentials may answer it) as
    /// webauthn-rs serialises it.
    pub state: String,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
