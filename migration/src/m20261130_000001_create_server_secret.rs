use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Secrets every instance must share (for instance the key that picks the decoy hash of a
/// login without a usable password). Created by the service, never by a migration, so a
/// dump of the migrations holds none of them.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServerSecret::Table)
                    .if_not_exists()
                    .col(string(ServerSecret::Name).primary_key())
                    .col(blob(ServerSecret::Value))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServerSecret::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ServerSecret {
    Table,
    Name,
    Value,
}
