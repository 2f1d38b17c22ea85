//! What the service stored, read and written behind its back: users created without the API,
//! sessions opened without hashing, rows and raw bytes to search for secrets.

use std::{path::PathBuf, time::Duration};

use entity::{session, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};
use spa_auth::{
    http::state::AppState,
    passwords::PasswordSettings,
    passwords::{Password, Passwords},
    sessions::ClientInfo,
    users::{self, NewUser},
};

use crate::{Db, TestApp, sha256};

impl TestApp {
    /// Creates an active user with a password hashed as the service is configured to.
    pub async fn create_user(&self, username: &str, password: &str) -> user::Model {
        create_user_in(&self.db, &self.state.passwords, username, password).await
    }

    /// Creates an active user with the given stored hash.
    pub async fn create_user_with_hash(&self, username: &str, hash: Option<String>) -> user::Model {
        create_user_with_hash_in(&self.db, username, hash).await
    }

    /// Waits as long as the `spa-auth` CLI does after changing a user directly in the
    /// database: by then every running instance has dropped what it cached about that user
    /// (`spa_auth::sessions::cache::propagation_bound`). Changes made through the HTTP API need no wait.
    pub async fn settle(&self) {
        let poll = std::time::Duration::from_millis(50);
        tokio::time::sleep(spa_auth::sessions::cache::propagation_bound(poll)).await;
    }

    /// The user as stored now.
    pub async fn user(&self, username: &str) -> user::Model {
        users::get_by_username(&self.db, username)
            .await
            .unwrap_or_else(|e| panic!("cannot read user {username}: {e}"))
    }

    /// Opens a session for `user_id` straight through the service's own session store (no
    /// password hashing, so tests that need many sessions stay fast); returns the cookie token.
    pub async fn open_session(&self, user_id: uuid::Uuid, user_agent: &str) -> String {
        open_session_in(&self.state, user_id, user_agent).await
    }

    /// Every row of the sessions table.
    pub async fn sessions(&self) -> Vec<session::Model> {
        session::Entity::find()
            .all(&self.db)
            .await
            .expect("cannot read sessions")
    }

    /// The session stored for a token, looked up by its SHA-256.
    pub async fn session_for(&self, token: &str) -> Option<session::Model> {
        session::Entity::find()
            .filter(session::Column::TokenHash.eq(sha256(token)))
            .one(&self.db)
            .await
            .expect("cannot read sessions")
    }

    pub async fn sessions_of(&self, user_id: uuid::Uuid) -> Vec<session::Model> {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .all(&self.db)
            .await
            .expect("cannot read sessions")
    }

    /// Everything the database holds about sessions, as text, to search for secrets: every
    /// row as PostgreSQL renders it, or for SQLite every byte of the database and its WAL.
    pub async fn raw_session_storage(&self) -> String {
        String::from_utf8_lossy(&self.raw_storage("sessions").await).into_owned()
    }

    /// Everything stored for `table`, as bytes to search: its rows as PostgreSQL's text
    /// (`bytea` in hex), or the whole SQLite file with its write-ahead log.
    pub async fn raw_storage(&self, table: &str) -> Vec<u8> {
        match self.test_db.kind {
            Db::Postgres => {
                let rows = self
                    .db
                    .query_all_raw(Statement::from_string(
                        self.db.get_database_backend(),
                        format!("SELECT t::text AS row FROM {table} t"),
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("cannot dump {table}: {e}"));
                rows.iter()
                    .map(|r| r.try_get::<String>("", "row").expect("row as text"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            }
            Db::Sqlite => {
                let path = self.test_db.sqlite_path.clone().expect("sqlite path");
                let mut bytes = std::fs::read(&path).expect("cannot read the SQLite file");
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if let Ok(more) = std::fs::read(wal) {
                    bytes.extend(more);
                }
                bytes
            }
        }
    }

    /// Passwords hashed with other parameters than the service's, e.g. to store a weak hash.
    pub fn passwords_with(memory_kib: u32, iterations: u32, parallelism: u32) -> Passwords {
        Passwords::new(&PasswordSettings {
            argon2_memory_kib: memory_kib,
            argon2_iterations: iterations,
            argon2_parallelism: parallelism,
            hash_concurrency: Some(1),
            hash_queue: 4,
            decoy_refresh: Duration::from_secs(60),
        })
        .expect("argon2 parameters")
    }
}

/// [`TestApp::create_user`] on any database, with any hashing parameters (the domain tests
/// have no `TestApp`).
pub async fn create_user_in(
    db: &DatabaseConnection,
    passwords: &Passwords,
    username: &str,
    password: &str,
) -> user::Model {
    let hash = passwords
        .hash(&Password::new(password))
        .await
        .expect("hashing failed");
    create_user_with_hash_in(db, username, Some(hash)).await
}

/// [`TestApp::create_user_with_hash`] on any database.
pub async fn create_user_with_hash_in(
    db: &DatabaseConnection,
    username: &str,
    hash: Option<String>,
) -> user::Model {
    let new = NewUser {
        username: username.into(),
        email: format!("{}@example.com", username.to_lowercase()),
        first_name: "First".into(),
        last_name: "Last".into(),
    };
    users::create(db, new, hash)
        .await
        .unwrap_or_else(|e| panic!("cannot create user {username}: {e}"))
}

/// [`TestApp::open_session`] on any instance's state, e.g. a second [`crate::Instance`].
pub async fn open_session_in(state: &AppState, user_id: uuid::Uuid, user_agent: &str) -> String {
    let client = ClientInfo {
        user_agent: Some(user_agent.into()),
        ip: Some("127.0.0.1".into()),
    };
    let (token, _) = state
        .sessions
        .create(user_id, &client, true)
        .await
        .expect("cannot open a session");
    token.expose().to_owned()
}
