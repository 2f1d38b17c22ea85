//! SeaORM entities shared by the service and its migrations' tests.

pub mod session;
pub mod user;
