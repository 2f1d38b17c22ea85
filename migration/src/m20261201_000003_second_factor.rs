use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Second factors: how and when each session was authenticated, TOTP secrets and recovery
/// codes.
///
/// - `sessions.second_factor_pending`: the password was right but the second step is still to
///   come; such a session can do nothing else. Existing sessions were complete logins.
/// - `sessions.authenticated_at`: when the user last proved who they are in this session (at
///   login, completing the second step, re-authenticating); step-up checks it. For existing
///   rows the best that is known is the login, `created_at`.
/// - `sessions.auth_methods`: what proved it, `password`, `password+totp`,
///   `password+recovery_code`; existing sessions were opened with a password.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(boolean(Sessions::SecondFactorPending).default(false))
                    .to_owned(),
            )
            .await?;
        // SQLite cannot add a column whose default is an expression: a constant first, then
        // every existing row gets its own `created_at`. Every insert sets the column itself.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(
                        timestamp_with_time_zone(Sessions::AuthenticatedAt)
                            .default("1970-01-01 00:00:00+00:00"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Sessions::Table)
                    .value(Sessions::AuthenticatedAt, Expr::col(Sessions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(string(Sessions::AuthMethods).default("password"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TotpSecrets::Table)
                    .if_not_exists()
                    .col(uuid(TotpSecrets::UserId).primary_key())
                    .col(blob(TotpSecrets::SecretCiphertext))
                    .col(timestamp_with_time_zone(TotpSecrets::CreatedAt))
                    .col(timestamp_with_time_zone_null(TotpSecrets::ConfirmedAt))
                    .col(big_integer_null(TotpSecrets::LastUsedStep))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_totp_secrets_user")
                            .from(TotpSecrets::Table, TotpSecrets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(pk_uuid(RecoveryCodes::Id))
                    .col(uuid(RecoveryCodes::UserId))
                    .col(blob(RecoveryCodes::CodeHash))
                    .col(timestamp_with_time_zone(RecoveryCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_user")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A code is looked up by its user and hash.
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user_hash")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .col(RecoveryCodes::CodeHash)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TotpSecrets::Table).to_owned())
            .await?;
        for column in [
            Sessions::AuthMethods,
            Sessions::AuthenticatedAt,
            Sessions::SecondFactorPending,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    CreatedAt,
    SecondFactorPending,
    AuthenticatedAt,
    AuthMethods,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TotpSecrets {
    Table,
    UserId,
    SecretCiphertext,
    CreatedAt,
    ConfirmedAt,
    LastUsedStep,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}
