//! Schema migrations; the same ones run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_users_and_sessions;
mod m20261130_000001_create_server_secret;
mod m20261130_000002_create_instance_registry;
mod m20261201_000001_accounts_by_email;
mod m20261201_000002_session_persistence;
mod m20261201_000003_second_factor;
mod m20261202_000001_passkeys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_users_and_sessions::Migration),
            Box::new(m20261130_000001_create_server_secret::Migration),
            Box::new(m20261130_000002_create_instance_registry::Migration),
            Box::new(m20261201_000001_accounts_by_email::Migration),
            Box::new(m20261201_000002_session_persistence::Migration),
            Box::new(m20261201_000003_second_factor::Migration),
            Box::new(m20261202_000001_passkeys::Migration),
        ]
    }
}
