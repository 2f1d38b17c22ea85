use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Public identifier, safe to show to the user; never the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the cookie token. The token itself is never stored, so a
    /// copy of this table cannot be replayed as cookies.
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    pub user_id: Uuid,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    /// Idle deadline; slides forward with use but never past `absolute_expires_at`.
    pub expires_at: DateTimeUtc,
    pub absolute_expires_at: DateTimeUtc,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// False when the user logged in without "remember me": the cookie is sent without
    /// `Max-Age`, so the browser drops it when it closes, and the idle deadline uses the
    /// shorter `session_idle_timeout_short`, since the device may be shared.
    pub persistent: bool,
    /// The right password was given but the second factor is still to come: the session can
    /// do nothing but complete that step (or log out), and lives only a few minutes.
    pub second_factor_pending: bool,
    /// When the user last proved who they are in this session: login (once complete), the
    /// second step, re-authentication. Operations that need a recent proof (step-up) check it.
    pub authenticated_at: DateTimeUtc,
    /// What proved it: `password`, `password+totp`, `password+recovery_code`.
    pub auth_methods: String,
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
