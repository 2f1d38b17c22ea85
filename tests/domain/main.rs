//! Domain tests: the session cache, sessions, the throttle and the login sequence, driven
//! directly on a migrated database with no server and no HTTP, each on SQLite and PostgreSQL.
//! What the HTTP tests can only infer from status codes (a cache entry dropped, a deadline
//! that slid, a counter given back) is looked at here where it happens.

mod accounts;
mod authentication;
mod cache;
mod sessions;
mod throttle;

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{login_throttle, session, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use spa_auth::{
    database::{DatabaseSettings, connect, migrate},
    services::Services,
    sessions::{
        ClientInfo, SameSite, SessionSettings, Sessions, Token,
        cache::{DbHealth, WatchSettings, watch},
    },
    throttle::{Throttle, ThrottleSettings},
    users,
};
use spa_auth_tests::{Db, TestApp, TestDb, create_user_in};

/// The service's defaults, spelled out so that a test changes only what it is about.
pub fn session_settings() -> SessionSettings {
    SessionSettings {
        cookie_name: "__Host-session".into(),
        cookie_secure: true,
        cookie_same_site: SameSite::Lax,
        session_idle_timeout: Duration::from_secs(14 * 24 * 3600),
        session_idle_timeout_short: None,
        session_absolute_timeout: Duration::from_secs(30 * 24 * 3600),
        session_refresh_interval: Duration::from_secs(3600),
        session_cache_ttl: Duration::from_secs(60),
        session_cache_max: 100_000,
        invalidation_poll: Duration::from_millis(50),
        invalidation_push: spa_auth::sessions::Push::Auto,
        invalidation_safety_poll: Duration::from_secs(1),
        second_factor_timeout: Duration::from_secs(5 * 60),
        reauth_window: Duration::from_secs(10 * 60),
    }
}

/// A small pair limit, so that tests reach it in a few attempts; the others stay out of reach.
pub fn throttle_settings() -> ThrottleSettings {
    ThrottleSettings {
        throttle_window: Duration::from_secs(15 * 60),
        throttle_per_pair: 3,
        throttle_per_ip: 100,
        throttle_per_account: 100,
    }
}

/// Every test user's password, unless a test is about another one.
pub const PASSWORD: &str = "correct horse battery";

pub const IP: &str = "192.0.2.1";

pub fn client() -> ClientInfo {
    ClientInfo {
        user_agent: Some("domain-test".into()),
        ip: Some(IP.into()),
    }
}

/// The domain's parts on a fresh migrated database, as `server` builds them, minus the server:
/// with the cache watcher running, since without it the cache is never used.
pub struct Domain {
    pub services: Services,
    pub db: DatabaseConnection,
    _watcher: Watcher,
    // Last: the database outlives the connections above.
    _test_db: TestDb,
}

/// The cache watcher of a [`Domain`], stopped with it.
struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn domain(db: Db) -> Domain {
    domain_with(db, session_settings(), throttle_settings()).await
}

pub async fn domain_with(db: Db, session: SessionSettings, throttle: ThrottleSettings) -> Domain {
    let test_db = TestDb::create(db).await;
    let conn = connect(&DatabaseSettings {
        database_url: test_db.url.clone(),
        db_pool_size: 4,
        db_timeout: Duration::from_secs(5),
    })
    .await
    .expect("cannot connect");
    migrate(&conn).await.expect("cannot migrate");
    let postgres = db == Db::Postgres;
    let watch_settings = WatchSettings {
        poll: session.invalidation_poll,
        safety_poll: session.invalidation_safety_poll,
        push: session.push_on(postgres).expect("push setting"),
    };
    let services = Services {
        db: conn.clone(),
        sessions: Sessions::new(conn.clone(), session),
        // The cheapest argon2 parameters: these tests are about the sequence, not the cost.
        passwords: TestApp::passwords_with(8, 1, 1),
        throttle: Throttle::new(conn.clone(), throttle),
        accounts: spa_auth::SpaAuthSettings::default().accounts(),
        second_factor: spa_auth::second_factor_policy::SecondFactor::new(
            &spa_auth::SpaAuthSettings::default().second_factor,
        )
        .expect("no key, valid settings"),
        passkeys: spa_auth::passkey_policy::Passkeys::new(
            &spa_auth::SpaAuthSettings::default().passkey,
            None,
        )
        .expect("valid settings"),
    };
    let cache = services.sessions.cache().clone();
    let watcher = Watcher(tokio::spawn(watch(
        conn.clone(),
        cache.clone(),
        DbHealth::new(true),
        watch_settings,
    )));
    let usable = eventually(|| {
        let cache = cache.clone();
        async move { cache.is_usable() }
    });
    assert!(usable.await, "the cache watcher never polled");
    Domain {
        services,
        db: conn,
        _watcher: watcher,
        _test_db: test_db,
    }
}

impl Domain {
    /// An active user whose password is hashed with this domain's parameters.
    pub async fn user(&self, username: &str, password: &str) -> user::Model {
        create_user_in(&self.db, &self.services.passwords, username, password).await
    }

    /// The user most tests need, with a session open.
    pub async fn alice_session(&self) -> (user::Model, Token, session::Model) {
        let alice = self.user("alice", PASSWORD).await;
        let (token, session) = self.open(&alice).await;
        (alice, token, session)
    }

    /// The user as stored now.
    pub async fn reload(&self, user: &user::Model) -> user::Model {
        users::find_by_id(&self.db, user.id)
            .await
            .expect("cannot read user")
            .expect("user gone")
    }

    /// Opens a session without a password check.
    pub async fn open(&self, user: &user::Model) -> (Token, session::Model) {
        self.services
            .sessions
            .create(user.id, &client(), true)
            .await
            .expect("cannot open a session")
    }

    /// The session row now, if it still exists.
    pub async fn session(&self, id: uuid::Uuid) -> Option<session::Model> {
        session::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .expect("cannot read sessions")
    }

    /// Ids of every stored session, sorted.
    pub async fn session_ids(&self) -> Vec<uuid::Uuid> {
        let mut ids: Vec<_> = session::Entity::find()
            .all(&self.db)
            .await
            .expect("cannot read sessions")
            .into_iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        ids
    }

    /// Rewrites a session's clock behind the service's back, so that time-based rules are
    /// tested without waiting.
    pub async fn set_times(
        &self,
        session: &session::Model,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        absolute_expires_at: DateTime<Utc>,
    ) {
        let mut active = session.clone().into_active_model();
        active.last_seen_at = Set(last_seen_at);
        active.expires_at = Set(expires_at);
        active.absolute_expires_at = Set(absolute_expires_at);
        active.update(&self.db).await.expect("cannot set times");
    }

    /// Every throttle counter whose key starts with `prefix` (`pair:`, `ip:`, `account:`).
    pub async fn counters(&self, prefix: &str) -> Vec<login_throttle::Model> {
        login_throttle::Entity::find()
            .all(&self.db)
            .await
            .expect("cannot read counters")
            .into_iter()
            .filter(|c| c.key.starts_with(prefix))
            .collect()
    }
}

/// Polls `check` every 10 ms for up to 3 s: for what background tasks do.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check().await
}
