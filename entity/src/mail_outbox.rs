use sea_orm::entity::prelude::*;

/// A message waiting for delivery, or delivered (kept a while for the record, without its
/// parameters). Holds no secrets: tokens are made when the message is sent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Which message: `mail::MailKind` as a string.
    pub kind: String,
    pub recipient: String,
    /// What the message needs besides its kind and recipient (no tokens).
    pub params: Json,
    pub created_at: DateTimeUtc,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// Set by the instance delivering it, so that two instances never send it twice.
    pub claimed_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    /// Given up on (a permanent SMTP refusal, or too many attempts).
    pub failed_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
