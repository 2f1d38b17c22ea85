//! Failed-login throttling, with counters in the database so that every instance sees them.

use chrono::Utc;
use entity::login_throttle;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Statement,
};

use crate::{config::ThrottleSettings, users::username_key};

#[derive(Clone)]
pub struct Throttle {
    db: DatabaseConnection,
    settings: ThrottleSettings,
}

/// The counters one login attempt touches.
struct Keys {
    pair: String,
    ip: String,
    account: String,
}

fn keys(username: &str, ip: Option<&str>) -> Keys {
    // A hash, so that no client text (a NUL, say) ever reaches the database.
    use sha2::{Digest, Sha256};
    let user: String = Sha256::digest(username_key(username).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ip = ip.unwrap_or("unknown");
    Keys {
        pair: format!("pair:{ip}|{user}"),
        ip: format!("ip:{ip}"),
        account: format!("account:{user}"),
    }
}

impl Throttle {
    pub fn new(db: DatabaseConnection, settings: ThrottleSettings) -> Self {
        Throttle { db, settings }
    }

    fn window_secs(&self) -> i64 {
        i64::try_from(self.settings.throttle_window.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// `Some(seconds to wait)` when a limit is reached. Checked before any password work, so a
    /// throttled attacker costs no hashing.
    pub async fn check(&self, username: &str, ip: Option<&str>) -> Result<Option<u64>, DbErr> {
        let keys = keys(username, ip);
        let now = Utc::now().timestamp();
        let window = self.window_secs();
        let rows = login_throttle::Entity::find()
            .filter(login_throttle::Column::Key.is_in([&keys.pair, &keys.ip, &keys.account]))
            .filter(login_throttle::Column::WindowStart.gt(now - window))
            .all(&self.db)
            .await?;
        let limit_of = |key: &str| {
            if key == keys.pair {
                self.settings.throttle_per_pair
            } else if key == keys.ip {
                self.settings.throttle_per_ip
            } else {
                self.settings.throttle_per_account
            }
        };
        let wait = rows
            .iter()
            .filter(|r| u32::try_from(r.failures).unwrap_or(u32::MAX) >= limit_of(&r.key))
            .map(|r| r.window_start + window - now)
            .max();
        Ok(wait.map(|w| u64::try_from(w.max(1)).unwrap_or(1)))
    }

    /// Counts a failed attempt against all three keys, atomically per key so that instances
    /// racing on one account cannot lose counts.
    pub async fn record_failure(&self, username: &str, ip: Option<&str>) -> Result<(), DbErr> {
        let keys = keys(username, ip);
        let now = Utc::now().timestamp();
        let stale = now - self.window_secs();
        let backend = self.db.get_database_backend();
        for key in [keys.pair, keys.ip, keys.account] {
            // Same SQL on SQLite (3.24+) and PostgreSQL; a window that has ended starts over.
            let sql = "INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 1, $2) \
                       ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                                  ELSE login_throttle.failures + 1 END, \
                       window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 \
                                      ELSE login_throttle.window_start END";
            self.db
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [key.into(), now.into(), stale.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// A successful login clears the account's counters (this address's and the global one);
    /// the address counter stays, so spraying many accounts is still counted.
    pub async fn record_success(&self, username: &str, ip: Option<&str>) -> Result<(), DbErr> {
        let keys = keys(username, ip);
        login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::Key.is_in([keys.pair, keys.account]))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Drops counters whose window has ended; run with the session purge.
    pub async fn purge(&self) -> Result<u64, DbErr> {
        let stale = Utc::now().timestamp() - self.window_secs();
        let res = login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::WindowStart.lte(stale))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected)
    }
}
