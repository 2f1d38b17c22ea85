use sea_orm::entity::prelude::*;

/// Failed-login counters in fixed windows, shared by every instance on the database.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_throttle")]
pub struct Model {
    /// `account:<username>`, `ip:<address>` or `pair:<address>|<username>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub failures: i32,
    /// Start of the current window, Unix seconds.
    pub window_start: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
