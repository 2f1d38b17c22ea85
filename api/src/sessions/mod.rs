//! Server-side sessions: opaque random tokens in an HttpOnly cookie, stored only as hashes.

pub mod cache;

use std::{fmt, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{session, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    config::{SameSite, SessionSettings},
    sessions::cache::SessionCache,
};

const TOKEN_BYTES: usize = 32;
/// Length of a token as it travels in the cookie (base64url, no padding).
const TOKEN_CHARS: usize = 43;

/// A session token as the client holds it. `Debug` is redacted: tokens never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 32 bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Token(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts only strings of the shape we issue, so junk never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == TOKEN_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Token(raw.to_owned()))
    }

    /// What the database stores and looks up. A leaked table gives hashes, and a hash is not
    /// a cookie. Looking up by hash also means no comparison on the token itself whose timing
    /// could leak it.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Where and by what a session was opened; shown later in the list of a user's sessions.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

#[derive(Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    settings: SessionSettings,
    cache: Arc<SessionCache>,
}

/// A live session and its user, as found for a request's cookie.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: session::Model,
    pub user: user::Model,
    /// Set when this request pushed the idle deadline forward: the cookie is re-sent with the
    /// new `Max-Age`.
    pub renewed: bool,
}

impl Sessions {
    pub fn new(db: DatabaseConnection, settings: SessionSettings) -> Self {
        let cache = Arc::new(SessionCache::new(
            settings.session_cache_ttl,
            settings.session_cache_max,
        ));
        Sessions {
            db,
            settings,
            cache,
        }
    }

    pub fn cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    pub fn cookie_name(&self) -> &str {
        &self.settings.cookie_name
    }

    fn idle(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.session_idle_timeout)
            .unwrap_or(chrono::Duration::MAX)
    }

    fn absolute(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.session_absolute_timeout)
            .unwrap_or(chrono::Duration::MAX)
    }

    fn refresh(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.session_refresh_interval)
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Opens a brand-new session; the caller sends the token as the cookie.
    pub async fn create(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(Token, session::Model), SessionError> {
        let created = self.create_in(&self.db, user_id, client).await?;
        crate::telemetry::metrics::METRICS.sessions_created(1);
        Ok(created)
    }

    /// Inserts a new session in the caller's transaction, so that it commits together with
    /// the check that allowed it (see `authentication`). The caller counts it once committed.
    pub async fn create_in<C: ConnectionTrait>(
        &self,
        db: &C,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(Token, session::Model), SessionError> {
        let token = Token::generate()?;
        let now = Utc::now();
        let absolute = now + self.absolute();
        let model = session::ActiveModel {
            id: Set(Uuid::new_v4()),
            token_hash: Set(token.hash()),
            user_id: Set(user_id),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set((now + self.idle()).min(absolute)),
            absolute_expires_at: Set(absolute),
            user_agent: Set(client.user_agent.clone()),
            ip: Set(client.ip.clone()),
        }
        .insert(db)
        .await?;
        Ok((token, model))
    }

    /// The live session behind `token`, if any: from this instance's cache when fresh,
    /// otherwise one indexed read, plus a write at most once per refresh interval to slide
    /// the idle deadline.
    pub async fn authenticate(&self, token: &Token) -> Result<Option<Current>, DbErr> {
        let hash = token.hash();
        let now = Utc::now();
        if let Some((session, user)) = self.cache.get(&hash) {
            if is_live(&session, &user, now) && now - session.last_seen_at < self.refresh() {
                return Ok(Some(Current {
                    session,
                    user,
                    renewed: false,
                }));
            }
            self.cache.forget(&hash);
        }
        let found = session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash.clone()))
            .find_also_related(user::Entity)
            .one(&self.db)
            .await?;
        let Some((session, Some(user))) = found else {
            return Ok(None);
        };
        if !is_live(&session, &user, now) {
            return Ok(None);
        }
        if now - session.last_seen_at < self.refresh() {
            self.cache.put(hash, session.clone(), user.clone());
            return Ok(Some(Current {
                session,
                user,
                renewed: false,
            }));
        }
        let absolute = session.absolute_expires_at;
        let mut active: session::ActiveModel = session.into();
        active.last_seen_at = Set(now);
        active.expires_at = Set((now + self.idle()).min(absolute));
        let session = active.update(&self.db).await?;
        self.cache.put(hash, session.clone(), user.clone());
        Ok(Some(Current {
            session,
            user,
            renewed: true,
        }))
    }

    /// Ends sessions through [`end_sessions`] and drops the user's cached entries here at
    /// once, so the very next request on this instance is refused.
    pub async fn end(&self, user_id: Uuid, which: Which, reason: Reason) -> Result<u64, DbErr> {
        let ended = end_sessions(&self.db, user_id, which, reason).await;
        self.cache.forget_user(user_id);
        ended
    }

    /// Drops this instance's cached entries of a user after a change made elsewhere in this
    /// process (a password change through the users module, say).
    pub fn forget_user(&self, user_id: Uuid) {
        self.cache.forget_user(user_id);
    }

    /// Ends the session a token belongs to, if any.
    pub async fn end_by_token(&self, token: &Token, reason: Reason) -> Result<bool, DbErr> {
        let found = session::Entity::find()
            .filter(session::Column::TokenHash.eq(token.hash()))
            .one(&self.db)
            .await?;
        match found {
            Some(s) => Ok(self.end(s.user_id, Which::One(s.id), reason).await? > 0),
            None => Ok(false),
        }
    }

    /// A user's live sessions, newest first.
    pub async fn list_for_user(&self, user_id: Uuid) -> Result<Vec<session::Model>, DbErr> {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .order_by_desc(session::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    /// Deletes sessions past either deadline. Expired sessions are already refused at read
    /// time; this only keeps the table small.
    pub async fn purge_expired(&self) -> Result<u64, DbErr> {
        purge_expired(&self.db).await
    }

    /// `Set-Cookie` value carrying the token, living as long as the session's idle deadline.
    pub fn cookie(&self, token: &Token, expires_at: DateTime<Utc>) -> String {
        let max_age = (expires_at - Utc::now()).num_seconds().max(0);
        self.cookie_with(token.expose(), max_age)
    }

    /// `Set-Cookie` value that makes the browser drop the session cookie.
    pub fn clear_cookie(&self) -> String {
        self.cookie_with("", 0)
    }

    fn cookie_with(&self, value: &str, max_age: i64) -> String {
        let same_site = match self.settings.cookie_same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        };
        let secure = if self.settings.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}={value}; Max-Age={max_age}; Path=/; HttpOnly{secure}; SameSite={same_site}",
            self.settings.cookie_name
        )
    }
}

fn is_live(session: &session::Model, user: &user::Model, now: DateTime<Utc>) -> bool {
    session.expires_at > now && session.absolute_expires_at > now && user.is_active
}

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    One(Uuid),
    AllBut(Uuid),
    All,
}

/// Why sessions end; written to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Logout,
    /// The user ended one of their sessions from another one.
    EndedByUser,
    LogoutEverywhere,
    PasswordChanged,
    Deactivated,
    /// An operator ended them (`spa-auth sessions revoke`).
    Revoked,
    /// A new login from the same client replaced it.
    Replaced,
    /// A Django import changed the user's password, roles or active flag.
    Imported,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::EndedByUser => "ended_by_user",
            Reason::LogoutEverywhere => "logout_everywhere",
            Reason::PasswordChanged => "password_changed",
            Reason::Deactivated => "deactivated",
            Reason::Revoked => "revoked",
            Reason::Replaced => "replaced",
            Reason::Imported => "imported",
        }
    }
}

/// The one way sessions end before their time: every trigger (logout, logout everywhere,
/// password change, deactivation, operator revocation) comes through here, so none can skip
/// a step that a later cache depends on. It bumps the user's security epoch and deletes the
/// rows in the caller's transaction, and audits the reason.
///
/// The epoch moves *first*: that UPDATE takes the user's row lock, which every transaction
/// that opens a session also takes first (`authentication`), conditioned on the epoch it
/// verified against. So an ending and a login never interleave: either the login commits
/// first and this DELETE, a later statement, sees and removes its session, or the login
/// waits for the lock and then finds the epoch moved.
pub async fn end_sessions<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    which: Which,
    reason: Reason,
) -> Result<u64, DbErr> {
    bump_epoch(db, user_id).await?;
    let query = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
    let query = match which {
        Which::One(id) => query.filter(session::Column::Id.eq(id)),
        Which::AllBut(id) => query.filter(session::Column::Id.ne(id)),
        Which::All => query,
    };
    let ended = query.exec(db).await?.rows_affected;
    crate::telemetry::metrics::METRICS.sessions_ended(ended);
    tracing::info!(target: "audit", event = "sessions_ended", %user_id, reason = reason.as_str(), count = ended);
    Ok(ended)
}

/// Whether a session still exists; read in a transaction that holds its user's row lock, the
/// answer cannot change before that transaction ends.
pub async fn exists<C: ConnectionTrait>(db: &C, session_id: Uuid) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    Ok(session::Entity::find_by_id(session_id).count(db).await? > 0)
}

/// Marks everything cached about a user's sessions as stale. Called for every change of what
/// a session may do, including role changes that end no session.
pub async fn bump_epoch<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(
            user::Column::SecurityEpoch,
            sea_orm::sea_query::ExprTrait::add(Expr::col(user::Column::SecurityEpoch), 1),
        )
        .col_expr(
            user::Column::EpochChangedAt,
            Expr::value(Utc::now().timestamp_millis()),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = Utc::now();
    // expires_at never passes absolute_expires_at, so one column decides.
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the operating system's random generator failed: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_chars_and_unique() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert!(Token::parse(a.expose()).is_some());
        assert_ne!(a, b);
        assert_eq!(a.hash().len(), 32);
    }

    #[test]
    fn parse_refuses_other_shapes() {
        assert!(Token::parse("").is_none());
        assert!(Token::parse(&"a".repeat(44)).is_none());
        assert!(Token::parse(&format!("{}=", "a".repeat(42))).is_none());
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = Token::generate().unwrap();
        assert_eq!(format!("{t:?}"), "Token(***)");
    }
}
