//! SeaORM entities shared by the service and its migrations' tests.

pub mod account_token;
pub mod instance;
pub mod invalidation_ack;
pub mod login_throttle;
pub mod mail_outbox;
pub mod passkey;
pub mod passkey_ceremony;
pub mod recovery_code;
pub mod server_secret;
pub mod session;
pub mod totp_secret;
pub mod user;
