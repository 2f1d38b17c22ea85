use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Accounts people run themselves (sign-up, email verification, reset by email):
/// - `users.email_verified_at`, set for every existing user: an operator or a Django import
///   vouched for those addresses;
/// - `users.email_key`, the lower-cased address, unique: one account per address from now on.
///   Addresses that several existing users share keep no key (the migration must not fail on
///   them, nor pick one owner): those users cannot reset by email until an operator gives each
///   its own address;
/// - `account_tokens`: the single-use tokens mailed in links, stored only as SHA-256;
/// - `mail_outbox`: mail waiting for delivery, so that sending never blocks or fails a request
///   and a restart or an SMTP outage loses nothing. It holds no tokens: a link's token is made
///   when the message is delivered.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::EmailVerifiedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_null(Users::EmailKey))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute(
            Query::update()
                .table(Users::Table)
                .value(Users::EmailVerifiedAt, Expr::col(Users::DateJoined))
                .and_where(Expr::col(Users::Email).ne("")),
        )
        .await?;
        // The key in Rust, as the service computes it (SQLite's lower() knows only ASCII).
        let rows = db
            .query_all(
                Query::select()
                    .columns([Users::Id, Users::Email])
                    .from(Users::Table),
            )
            .await?;
        let mut by_key: std::collections::HashMap<String, Vec<sea_orm::prelude::Uuid>> =
            Default::default();
        for row in rows {
            let id: sea_orm::prelude::Uuid = row.try_get("", "id")?;
            let email: String = row.try_get("", "email")?;
            let key = email.trim().to_lowercase();
            if !key.is_empty() {
                by_key.entry(key).or_default().push(id);
            }
        }
        for (key, ids) in by_key {
            if let [id] = ids[..] {
                db.execute(
                    Query::update()
                        .table(Users::Table)
                        .value(Users::EmailKey, key)
                        .and_where(Expr::col(Users::Id).eq(id)),
                )
                .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_users_email_key")
                    .table(Users::Table)
                    .col(Users::EmailKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .if_not_exists()
                    .col(uuid(AccountTokens::Id).primary_key())
                    .col(string_len(AccountTokens::Purpose, 32))
                    .col(binary(AccountTokens::TokenHash).unique_key())
                    .col(uuid_null(AccountTokens::UserId))
                    .col(string(AccountTokens::Email))
                    .col(string(AccountTokens::Binding))
                    .col(json_null(AccountTokens::Data))
                    .col(timestamp_with_time_zone(AccountTokens::CreatedAt))
                    .col(timestamp_with_time_zone(AccountTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AccountTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountTokens::Table, AccountTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_tokens_user_purpose")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::UserId)
                    .col(AccountTokens::Purpose)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .if_not_exists()
                    .col(uuid(MailOutbox::Id).primary_key())
                    .col(string_len(MailOutbox::Kind, 32))
                    .col(string(MailOutbox::Recipient))
                    .col(json(MailOutbox::Params))
                    .col(timestamp_with_time_zone(MailOutbox::CreatedAt))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(MailOutbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::ClaimedUntil))
                    .col(timestamp_with_time_zone_null(MailOutbox::SentAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::FailedAt))
                    .col(text_null(MailOutbox::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mail_outbox_due")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::SentAt)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AccountTokens::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_users_email_key")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for col in [Users::EmailKey, Users::EmailVerifiedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    DateJoined,
    EmailVerifiedAt,
    EmailKey,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    Id,
    Purpose,
    TokenHash,
    UserId,
    Email,
    Binding,
    Data,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    Kind,
    Recipient,
    Params,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    SentAt,
    FailedAt,
    LastError,
}
