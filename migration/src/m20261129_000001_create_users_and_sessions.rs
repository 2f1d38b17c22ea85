use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    .col(string(Users::Username))
                    .col(string_uniq(Users::UsernameKey))
                    .col(string(Users::Email))
                    .col(string(Users::FirstName))
                    .col(string(Users::LastName))
                    .col(text_null(Users::PasswordHash))
                    .col(boolean(Users::IsActive))
                    .col(timestamp_with_time_zone(Users::DateJoined))
                    .col(timestamp_with_time_zone_null(Users::LastLogin))
                    .col(json(Users::Roles))
                    .col(big_integer(Users::SecurityEpoch).default(0))
                    .col(big_integer(Users::EpochChangedAt).default(0))
                    .to_owned(),
            )
            .await?;
        // Every instance polls for recently changed epochs.
        manager
            .create_index(
                Index::create()
                    .name("idx_users_epoch_changed_at")
                    .table(Users::Table)
                    .col(Users::EpochChangedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(pk_uuid(Sessions::Id))
                    .col(blob(Sessions::TokenHash).unique_key())
                    .col(uuid(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone(Sessions::AbsoluteExpiresAt))
                    .col(text_null(Sessions::UserAgent))
                    .col(string_null(Sessions::Ip))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Ending every session of a user and listing them both go by user.
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_id")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        // The purge task deletes by expiry.
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .if_not_exists()
                    .col(string(LoginThrottle::Key).primary_key())
                    .col(integer(LoginThrottle::Failures))
                    .col(big_integer(LoginThrottle::WindowStart))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    Email,
    FirstName,
    LastName,
    PasswordHash,
    IsActive,
    DateJoined,
    LastLogin,
    Roles,
    SecurityEpoch,
    EpochChangedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    UserId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    AbsoluteExpiresAt,
    UserAgent,
    Ip,
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Key,
    Failures,
    WindowStart,
}
