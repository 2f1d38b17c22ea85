use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The instances that cache sessions, and which changes each has applied: a security operation
/// answers only once every live instance has dropped what it cached (see
/// `sessions::registry`). Both tables hold only short-lived bookkeeping, no user data.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Instances::Table)
                    .if_not_exists()
                    .col(uuid(Instances::Id).primary_key())
                    .col(big_integer(Instances::HeartbeatAt))
                    .col(boolean(Instances::CacheOn))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InvalidationAcks::Table)
                    .if_not_exists()
                    .col(uuid(InvalidationAcks::InstanceId))
                    .col(uuid(InvalidationAcks::UserId))
                    .col(big_integer(InvalidationAcks::Epoch))
                    .col(big_integer(InvalidationAcks::AckedAt))
                    .primary_key(
                        Index::create()
                            .col(InvalidationAcks::InstanceId)
                            .col(InvalidationAcks::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        // A waiting operation asks, for one user, which instances have acknowledged.
        manager
            .create_index(
                Index::create()
                    .name("idx_invalidation_acks_user_id")
                    .table(InvalidationAcks::Table)
                    .col(InvalidationAcks::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(InvalidationAcks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Instances::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    HeartbeatAt,
    CacheOn,
}

#[derive(DeriveIden)]
enum InvalidationAcks {
    Table,
    InstanceId,
    UserId,
    Epoch,
    AckedAt,
}
