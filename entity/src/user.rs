use sea_orm::{FromJsonQueryResult, entity::prelude::*};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// As the user typed it; shown back unchanged.
    pub username: String,
    /// Lower-cased username: the unique key, so `Alice` and `alice` cannot both exist.
    #[sea_orm(unique)]
    pub username_key: String,
    pub email: String,
    /// Lower-cased `email`, unique: one account per address. `None` when the user has no
    /// address, or shares one with another user from before addresses were unique.
    #[sea_orm(unique)]
    pub email_key: Option<String>,
    /// When the user proved they receive mail at `email`; `None` until then.
    pub email_verified_at: Option<DateTimeUtc>,
    pub first_name: String,
    pub last_name: String,
    /// PHC string; `None` means the account has no usable password.
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub date_joined: DateTimeUtc,
    pub last_login: Option<DateTimeUtc>,
    /// Permission names, e.g. `staff`; read on every request, so a change applies at once.
    #[sea_orm(column_type = "Json")]
    pub roles: Roles,
    /// Bumped by every change that ends sessions or changes what they may do (password,
    /// deactivation, roles, logout everywhere). Anything that caches a session must
    /// compare it.
    pub security_epoch: i64,
    /// When the epoch last moved (Unix milliseconds), so that every instance can find the
    /// users whose cached sessions it must drop with one indexed query.
    pub epoch_changed_at: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Roles(pub Vec<String>);

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
