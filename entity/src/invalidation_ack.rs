use sea_orm::entity::prelude::*;

/// The latest security epoch of a user that an instance has applied to its cache: every entry
/// of that user cached under an older epoch is gone from that instance.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invalidation_acks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub epoch: i64,
    /// Unix milliseconds; old acknowledgements are deleted.
    pub acked_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
