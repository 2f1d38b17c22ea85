use sea_orm::entity::prelude::*;

/// A running instance that caches sessions, as its watcher last reported it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// When the instance last reported itself alive (Unix milliseconds, its own clock).
    pub heartbeat_at: i64,
    /// Whether it may answer from its session cache; one that may not needs no waiting for.
    pub cache_on: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
