use sea_orm::entity::prelude::*;

/// A user's TOTP authenticator (RFC 6238): at most one per user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The shared secret, encrypted with the server's secret key (AEAD, nonce first); never
    /// stored in clear, so a copy of the database alone cannot make codes.
    pub secret_ciphertext: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// Set once the user proved, with a code, that their authenticator has the secret; until
    /// then the secret is not asked for at login.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last time step whose code was accepted: a code is good once, so a step at or before
    /// it is refused (compare-and-set, so two racing requests with one code cannot both pass).
    pub last_used_step: Option<i64>,
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
