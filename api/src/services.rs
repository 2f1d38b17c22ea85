//! The domain's working parts as one value: what the HTTP layer, the CLI and a host
//! application share. Nothing here knows about HTTP.

use sea_orm::DatabaseConnection;

use crate::{
    account_policy::Accounts, passkey_policy::Passkeys, passwords::Passwords,
    second_factor_policy::SecondFactor, sessions::Sessions, throttle::Throttle,
};

#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub sessions: Sessions,
    pub passwords: Passwords,
    pub throttle: Throttle,
    pub accounts: Accounts,
    pub second_factor: SecondFactor,
    pub passkeys: Passkeys,
}
