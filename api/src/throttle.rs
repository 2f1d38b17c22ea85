//! Failed-login throttling, with counters in the database so that every instance sees them.
//!
//! An attempt *reserves* its slot in all three counters before any password work, in one
//! atomic statement per counter, and only then may it be evaluated. Checking first and
//! counting after the hash (as this module once did) lets a burst of parallel guesses all pass
//! the check before the first one is counted; a reservation cannot be overtaken, on one
//! instance or many. A success gives its slot back, an attempt that was never evaluated (the
//! hashing queue was full, the database failed) gives it back too, and a failure keeps it.

use std::time::Duration;

use chrono::Utc;
use clap::Args;
use entity::login_throttle;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    Statement, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use crate::users::username_key;

/// Failed-login limits. Each is a count of failures within one window; past it, logins for
/// that key get 429 until the window ends. The pair limit stops guessing one account from one
/// address; the address limit stops spraying many accounts from one address; the account
/// limit stops a distributed attack on one account and is set well above what one address
/// may reach, so that nobody on a single address can lock the real user out.
#[derive(Args, Clone, Debug)]
pub struct ThrottleSettings {
    /// Length of a counting window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub throttle_window: Duration,
    /// Failures allowed per (client address, account) in a window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_PER_PAIR", default_value_t = 5)]
    pub throttle_per_pair: u32,
    /// Failures allowed per client address, over all accounts, in a window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_PER_IP", default_value_t = 50)]
    pub throttle_per_ip: u32,
    /// Failures allowed per account, over all addresses, in a window.
    #[arg(long, env = "SPA_AUTH_THROTTLE_PER_ACCOUNT", default_value_t = 200)]
    pub throttle_per_account: u32,
}

#[derive(Clone)]
pub struct Throttle {
    db: DatabaseConnection,
    settings: ThrottleSettings,
}

/// The counters one login attempt touches. The username appears only as a hash: whatever
/// bytes a client sends as a name (NUL included, which PostgreSQL cannot store) never reach
/// the table, and a leaked table does not list who was attacked.
struct Keys {
    pair: String,
    ip: String,
    account: String,
}

fn keys(username: &str, ip: Option<&str>) -> Keys {
    let user = hex(&Sha256::digest(username_key(username).as_bytes()));
    // The address comes from `client_info`, which yields only parsed IP addresses.
    let ip = ip.unwrap_or("unknown");
    Keys {
        pair: format!("pair:{ip}|{user}"),
        ip: format!("ip:{ip}"),
        account: format!("account:{user}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Slots an attempt holds in the counters until it ends one way or the other. Each slot
/// remembers the window it was taken in, so that giving it back never touches a later window.
#[must_use = "a reservation ends with succeeded, failed or release"]
#[derive(Debug)]
pub struct Reservation {
    held: Vec<(String, i64)>,
    pair: String,
    account: String,
}

/// The outcome of asking for a slot.
#[derive(Debug)]
pub enum Admission {
    Admitted(Reservation),
    /// A limit is reached; seconds until its window ends.
    Refused {
        retry_after: u64,
    },
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

    /// Takes one slot in the pair, address and account counters, or none at all. Runs before
    /// any password work, so a throttled attacker costs no hashing.
    pub async fn reserve(&self, username: &str, ip: Option<&str>) -> Result<Admission, DbErr> {
        let keys = keys(username, ip);
        let limits = [
            (keys.pair.clone(), self.settings.throttle_per_pair),
            (keys.ip, self.settings.throttle_per_ip),
            (keys.account.clone(), self.settings.throttle_per_account),
        ];
        let mut held = Vec::with_capacity(limits.len());
        for (key, limit) in limits {
            match self.take_slot(&key, limit).await {
                Ok(Some(window_start)) => held.push((key, window_start)),
                Ok(None) => {
                    let retry_after = self.retry_after(&key).await;
                    give_back(&self.db, &held).await;
                    return Ok(Admission::Refused {
                        retry_after: retry_after?,
                    });
                }
                Err(e) => {
                    self.release(Reservation {
                        held,
                        pair: keys.pair,
                        account: keys.account,
                    });
                    return Err(e);
                }
            }
        }
        Ok(Admission::Admitted(Reservation {
            held,
            pair: keys.pair,
            account: keys.account,
        }))
    }

    /// One atomic statement: count this attempt unless the counter is already at its limit.
    /// `Some(window start)` when the slot was taken. The same SQL runs on SQLite (3.35+) and
    /// PostgreSQL; a window that has ended starts over at 1.
    async fn take_slot(&self, key: &str, limit: u32) -> Result<Option<i64>, DbErr> {
        let now = Utc::now().timestamp();
        let stale = now - self.window_secs();
        let sql = "INSERT INTO login_throttle (key, failures, window_start) VALUES ($1, 1, $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                              ELSE login_throttle.failures + 1 END, \
                   window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 \
                                  ELSE login_throttle.window_start END \
                   WHERE login_throttle.window_start <= $3 OR login_throttle.failures < $4 \
                   RETURNING window_start";
        let limit = i64::from(limit);
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                [key.into(), now.into(), stale.into(), limit.into()],
            ))
            .await?;
        row.map(|r| r.try_get_by_index::<i64>(0)).transpose()
    }

    /// Seconds until the window of a full counter ends (at least 1).
    async fn retry_after(&self, key: &str) -> Result<u64, DbErr> {
        let row = login_throttle::Entity::find_by_id(key.to_owned())
            .one(&self.db)
            .await?;
        let now = Utc::now().timestamp();
        let wait = row.map_or(1, |r| r.window_start + self.window_secs() - now);
        Ok(u64::try_from(wait.max(1)).unwrap_or(1))
    }

    /// The attempt was a wrong password: its slots stay counted.
    pub fn failed(&self, reservation: Reservation) {
        drop(reservation);
    }

    /// The attempt was never evaluated (no hashing slot, a database error): it does not count.
    /// Done in the background: after a database error the pool may take its whole acquire
    /// timeout to fail again, and the client's 503 must not wait for that.
    pub fn release(&self, reservation: Reservation) {
        let db = self.db.clone();
        tokio::spawn(async move { give_back(&db, &reservation.held).await });
    }

    /// A right password clears the account's counters (this address's and the global one)
    /// and returns the address slot; the rest of the address counter stays, so spraying many
    /// accounts is still counted.
    pub async fn succeeded(&self, reservation: Reservation) -> Result<(), DbErr> {
        let Reservation {
            held,
            pair,
            account,
        } = reservation;
        let rest: Vec<_> = held
            .into_iter()
            .filter(|(k, _)| *k != pair && *k != account)
            .collect();
        give_back(&self.db, &rest).await;
        login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::Key.is_in([pair, account]))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Counts one request that sends mail or creates an account (`scope`: `reset`, `signup`,
    /// `resend`) against `subject` (an address, compared ignoring case and stored only as a
    /// hash) and the client's IP, in the same counters and window as logins, and keeps it:
    /// `Some(retry_after)` when either limit is reached. Slots are taken before any work, as
    /// for logins, so a burst of parallel requests is held to the limit.
    pub async fn hit(
        &self,
        scope: &str,
        subject: &str,
        ip: Option<&str>,
        per_subject: u32,
        per_ip: u32,
    ) -> Result<Option<u64>, DbErr> {
        let subject = hex(&Sha256::digest(subject.trim().to_lowercase().as_bytes()));
        let ip = ip.unwrap_or("unknown");
        let limits = [
            (format!("{scope}:{subject}"), per_subject),
            (format!("{scope}-ip:{ip}"), per_ip),
        ];
        let mut held = Vec::with_capacity(limits.len());
        for (key, limit) in limits {
            match self.take_slot(&key, limit).await {
                Ok(Some(window_start)) => held.push((key, window_start)),
                Ok(None) => {
                    give_back(&self.db, &held).await;
                    return Ok(Some(self.retry_after(&key).await?));
                }
                Err(e) => {
                    give_back(&self.db, &held).await;
                    return Err(e);
                }
            }
        }
        Ok(None)
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

/// Returns slots, in one statement. Failing to return one only errs on the safe side (a slot
/// stays taken until its window ends), so errors are logged, not raised.
async fn give_back(db: &DatabaseConnection, held: &[(String, i64)]) {
    if held.is_empty() {
        return;
    }
    let slots = held
        .iter()
        .fold(Condition::any(), |any, (key, window_start)| {
            any.add(
                Condition::all()
                    .add(login_throttle::Column::Key.eq(key.as_str()))
                    .add(login_throttle::Column::WindowStart.eq(*window_start)),
            )
        });
    let result = login_throttle::Entity::update_many()
        .col_expr(
            login_throttle::Column::Failures,
            sea_orm::sea_query::ExprTrait::sub(Expr::col(login_throttle::Column::Failures), 1),
        )
        .filter(slots)
        .filter(login_throttle::Column::Failures.gt(0))
        .exec(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not return login throttle slots");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_no_client_text() {
        let k = keys("Al\0ice", Some("192.0.2.1"));
        assert!(!k.pair.contains('\0') && !k.account.contains('\0'));
        assert_eq!(k.account.len(), "account:".len() + 64);
        // The account key is the case-folded name's: `ALICE` and `alice` share counters.
        assert_eq!(keys("ALICE", None).account, keys("alice", None).account);
    }
}
