use sea_orm::entity::prelude::*;

/// A user's passkey: a WebAuthn credential whose private key never leaves the authenticator.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    /// Public identifier, for listing, renaming and removing.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The authenticator's name for the credential; unique, so one credential can never
    /// belong to two accounts.
    #[sea_orm(unique)]
    pub credential_id: Vec<u8>,
    /// What the user calls it ("laptop", "phone").
    pub name: String,
    /// The verifier's record of the credential (public key, signature counter, flags) as
    /// webauthn-rs serialises it: public data, no secret.
    pub credential: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
