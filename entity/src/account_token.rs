use sea_orm::entity::prelude::*;

/// A single-use token mailed in a link (email verification, password reset, invitation).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `verify_email`, `reset_password` or `invite`.
    pub purpose: String,
    /// SHA-256 of the token. The token itself is only ever in the mail.
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    /// `None` for an invitation, whose user does not exist yet.
    pub user_id: Option<Uuid>,
    /// The address the token was mailed to: the one verified, or the invited one.
    pub email: String,
    /// What must not have changed for the token to work (see `accounts::tokens`).
    pub binding: String,
    /// Purpose-specific details (an invitation's roles).
    pub data: Option<Json>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
