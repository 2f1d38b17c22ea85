//! Server-side sessions: opaque random tokens in an HttpOnly cookie, stored only as hashes.

pub mod cache;
pub mod device;
mod invalidation;
mod listener;
pub mod registry;
mod settings;
mod token;

pub use invalidation::{Reason, Which, bump_epoch, end_sessions, exists, purge_expired};
pub use settings::{Push, SameSite, SessionSettings, SettingsError};
pub use token::Token;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{session, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::sessions::cache::SessionCache;

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

/// How a session was authenticated, recorded when it opens (`sessions.auth_methods`); the
/// list grows with each factor the user proves (passkeys will be one more).
pub mod methods {
    pub const PASSWORD: &str = "password";
    pub const PASSWORD_TOTP: &str = "password+totp";
    pub const PASSWORD_RECOVERY_CODE: &str = "password+recovery_code";
    pub const PASSWORD_PASSKEY: &str = "password+passkey";
    /// A passwordless login: the passkey, verified by its device (PIN or biometric).
    pub const PASSKEY: &str = "passkey";
}

/// Whether a session proved its user recently enough for a step-up operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recent {
    Yes,
    No,
    /// The session ended meanwhile.
    Gone,
}

/// The stage a new session starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fully authenticated by `methods` (one of [`methods`]).
    Complete(&'static str),
    /// The password was right, a second factor is still to come: the session lives only
    /// `second_factor_timeout` and can do nothing but complete that step.
    AwaitingSecondFactor,
}

/// What a cookie's token leads to: the one classification every path (the API's extractor,
/// forward auth, `SpaAuth::authenticate` and `protect`) goes through, so that a session
/// awaiting its second factor can never be taken for a live one.
#[derive(Debug, Clone)]
pub enum Found {
    Live(Current),
    /// Only the second step (or logging out) may use it.
    AwaitingSecondFactor(Current),
    /// No such session, or ended, expired, or its user deactivated.
    Nothing,
}

/// A live session and its user, as found for a request's cookie. Shared with this instance's
/// session cache (`Arc`), so that a cached request copies nothing: read the fields through it,
/// and clone the one you keep.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: Arc<session::Model>,
    pub user: Arc<user::Model>,
    /// Set when this request pushed the idle deadline forward: the cookie is re-sent with the
    /// new `Max-Age` (or, for a browser-session cookie, again without one).
    pub renewed: bool,
}

impl Current {
    /// Whether the user has `role`, as stored at this request (a grant or revocation applies
    /// to the very next request, see `bump_epoch`).
    pub fn has_role(&self, role: &str) -> bool {
        self.user.roles.0.iter().any(|r| r == role)
    }

    /// Whether the user has at least one of `roles`.
    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        roles.iter().any(|r| self.has_role(r))
    }
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

    /// The idle lifetime of a session: shorter for one whose cookie dies with the browser.
    fn idle(&self, persistent: bool) -> chrono::Duration {
        let idle = match persistent {
            true => self.settings.session_idle_timeout,
            false => self.settings.idle_timeout_short(),
        };
        chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX)
    }

    fn absolute(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.session_absolute_timeout)
            .unwrap_or(chrono::Duration::MAX)
    }

    fn refresh(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.session_refresh_interval)
            .unwrap_or(chrono::Duration::MAX)
    }

    /// How long a step-up may follow the last proof of identity in a session.
    pub fn reauth_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.reauth_window).unwrap_or(chrono::Duration::MAX)
    }

    fn second_factor_timeout(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.second_factor_timeout)
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Opens a brand-new session, authenticated by password; the caller sends the token as
    /// the cookie. `persistent`: "remember me", see [`session::Model::persistent`].
    pub async fn create(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
        persistent: bool,
    ) -> Result<(Token, session::Model), SessionError> {
        let stage = Stage::Complete(methods::PASSWORD);
        let created = self
            .create_in(&self.db, user_id, client, persistent, stage)
            .await?;
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
        persistent: bool,
        stage: Stage,
    ) -> Result<(Token, session::Model), SessionError> {
        let token = Token::generate()?;
        let now = Utc::now();
        // A half-open session ends at once with both deadlines: nothing slides it, and the
        // purge takes it like any expired session.
        let (absolute, pending, auth_methods) = match stage {
            Stage::Complete(methods) => (now + self.absolute(), false, methods),
            Stage::AwaitingSecondFactor => {
                (now + self.second_factor_timeout(), true, methods::PASSWORD)
            }
        };
        let model = session::ActiveModel {
            id: Set(Uuid::new_v4()),
            token_hash: Set(token.hash()),
            user_id: Set(user_id),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set((now + self.idle(persistent)).min(absolute)),
            absolute_expires_at: Set(absolute),
            user_agent: Set(client.user_agent.clone()),
            ip: Set(client.ip.clone()),
            persistent: Set(persistent),
            second_factor_pending: Set(pending),
            authenticated_at: Set(now),
            auth_methods: Set(auth_methods.to_owned()),
        }
        .insert(db)
        .await?;
        Ok((token, model))
    }

    /// The live, fully authenticated session behind `token`, if any: [`Sessions::find`]
    /// without the sessions that await their second factor.
    pub async fn authenticate(&self, token: &Token) -> Result<Option<Current>, DbErr> {
        match self.find(token).await? {
            Found::Live(current) => Ok(Some(current)),
            Found::AwaitingSecondFactor(_) | Found::Nothing => Ok(None),
        }
    }

    /// What `token` leads to: from this instance's cache when fresh, otherwise one indexed
    /// read, plus a write at most once per refresh interval to slide the idle deadline.
    pub async fn find(&self, token: &Token) -> Result<Found, DbErr> {
        Ok(match self.lookup(token).await? {
            Some(current) if current.session.second_factor_pending => {
                Found::AwaitingSecondFactor(current)
            }
            Some(current) => Found::Live(current),
            None => Found::Nothing,
        })
    }

    async fn lookup(&self, token: &Token) -> Result<Option<Current>, DbErr> {
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
        let user = Arc::new(user);
        if now - session.last_seen_at < self.refresh() {
            let session = Arc::new(session);
            self.cache.put(hash, session.clone(), user.clone());
            return Ok(Some(Current {
                session,
                user,
                renewed: false,
            }));
        }
        let absolute = session.absolute_expires_at;
        let idle = self.idle(session.persistent);
        let mut active: session::ActiveModel = session.into();
        active.last_seen_at = Set(now);
        active.expires_at = Set((now + idle).min(absolute));
        let session = Arc::new(active.update(&self.db).await?);
        self.cache.put(hash, session.clone(), user.clone());
        Ok(Some(Current {
            session,
            user,
            renewed: true,
        }))
    }

    /// Completes the second step of a session awaiting it: the same session (its id, its
    /// "remember me") under a NEW token, so that whoever saw the half-open cookie holds
    /// nothing; with full lifetimes from now and `authenticated_at` now. A compare-and-set on
    /// the old token: `None` when the session ended or was completed meanwhile. Runs in the
    /// caller's transaction, beside the spending of the code.
    pub async fn complete_in<C: ConnectionTrait>(
        &self,
        db: &C,
        pending: &session::Model,
        methods: &'static str,
    ) -> Result<Option<(Token, session::Model)>, SessionError> {
        use sea_orm::sea_query::Expr;
        let token = Token::generate()?;
        let now = Utc::now();
        let absolute = now + self.absolute();
        let expires = (now + self.idle(pending.persistent)).min(absolute);
        let updated = session::Entity::update_many()
            .col_expr(session::Column::TokenHash, Expr::value(token.hash()))
            .col_expr(session::Column::SecondFactorPending, Expr::value(false))
            .col_expr(session::Column::AuthenticatedAt, Expr::value(now))
            .col_expr(session::Column::AuthMethods, Expr::value(methods))
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .col_expr(session::Column::ExpiresAt, Expr::value(expires))
            .col_expr(session::Column::AbsoluteExpiresAt, Expr::value(absolute))
            .filter(session::Column::Id.eq(pending.id))
            .filter(session::Column::TokenHash.eq(pending.token_hash.clone()))
            .filter(session::Column::SecondFactorPending.eq(true))
            .filter(session::Column::ExpiresAt.gt(now))
            .exec(db)
            .await?;
        if updated.rows_affected != 1 {
            return Ok(None);
        }
        // This instance must not answer for the old token from memory; elsewhere a cached
        // copy still says "awaiting the second factor", which the compare-and-set above
        // refuses, and it dies within the cache's TTL.
        self.cache.forget(&pending.token_hash);
        let session = session::Model {
            token_hash: token.hash(),
            second_factor_pending: false,
            authenticated_at: now,
            auth_methods: methods.to_owned(),
            last_seen_at: now,
            expires_at: expires,
            absolute_expires_at: absolute,
            ..pending.clone()
        };
        Ok(Some((token, session)))
    }

    /// Records a new proof of identity in session `id` (re-authentication): step-up
    /// operations read it from the database, never from the cache, so it applies at once
    /// on every instance. False when the session is gone.
    pub async fn reauthenticated(&self, id: Uuid) -> Result<bool, DbErr> {
        use sea_orm::sea_query::Expr;
        let now = Utc::now();
        let updated = session::Entity::update_many()
            .col_expr(session::Column::AuthenticatedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::SecondFactorPending.eq(false))
            .filter(session::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Whether session `id` proved its user within the reauth window, read from the
    /// database: step-up decides on this, not on a cached copy, so that a re-authentication
    /// on one instance counts on every other at once.
    pub async fn recent(&self, id: Uuid) -> Result<Recent, DbErr> {
        let found = session::Entity::find_by_id(id)
            .filter(session::Column::SecondFactorPending.eq(false))
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await?;
        Ok(match found {
            None => Recent::Gone,
            Some(s) if Utc::now() - s.authenticated_at <= self.reauth_window() => Recent::Yes,
            Some(_) => Recent::No,
        })
    }

    /// Ends sessions through [`end_sessions`], drops the user's cached entries here at once,
    /// and returns only once every other live instance has dropped them too
    /// ([`registry::wait_applied`]): the very next request anywhere is refused.
    pub async fn end(&self, user_id: Uuid, which: Which, reason: Reason) -> Result<u64, DbErr> {
        match invalidation::end_sessions_at(&self.db, user_id, which, reason).await {
            Ok((ended, epoch)) => {
                self.applied_here(user_id, epoch).await;
                Ok(ended)
            }
            Err(e) => {
                // Whether it committed is unknown: nothing cached may outlive it.
                self.cache.forget_user(user_id);
                Err(e)
            }
        }
    }

    /// After a change of the user committed elsewhere in this process (a password change
    /// through `authentication`, say): drops this instance's entries at once and waits until
    /// every other live instance has dropped its own.
    pub async fn settle(&self, user_id: Uuid) {
        self.cache.forget_user(user_id);
        match registry::current_epoch(&self.db, user_id).await {
            Ok(epoch) => self.applied_here(user_id, epoch).await,
            Err(e) => tracing::warn!(%user_id, error = %e, "cannot read the epoch to wait for"),
        }
    }

    async fn applied_here(&self, user_id: Uuid, epoch: i64) {
        self.cache.forget_user(user_id);
        self.cache.apply(&[(user_id, epoch)]);
        let me = self.cache.instance_id();
        registry::wait_applied(&self.db, user_id, epoch, Some(me)).await;
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
        list_for_user(&self.db, user_id).await
    }

    /// Deletes sessions past either deadline. Expired sessions are already refused at read
    /// time; this only keeps the table small.
    pub async fn purge_expired(&self) -> Result<u64, DbErr> {
        purge_expired(&self.db).await
    }

    /// `Set-Cookie` value carrying the token of `session`: living as long as its idle
    /// deadline, or, without "remember me", a browser-session cookie (no `Max-Age`), which
    /// the browser drops when it closes while the server still ends it at its idle deadline.
    pub fn cookie(&self, token: &Token, session: &session::Model) -> String {
        let max_age = session
            .persistent
            .then(|| (session.expires_at - Utc::now()).num_seconds().max(0));
        self.cookie_with(token.expose(), max_age)
    }

    /// The `Set-Cookie` to send when this request slid the session's idle deadline (so the
    /// browser's cookie lives as long as the session), else none.
    pub fn renewal_cookie(&self, current: &Current, token: &Token) -> Option<String> {
        current
            .renewed
            .then(|| self.cookie(token, &current.session))
    }

    /// `Set-Cookie` value that makes the browser drop the session cookie.
    pub fn clear_cookie(&self) -> String {
        self.cookie_with("", Some(0))
    }

    /// The cookie; `max_age` `None` makes it a browser-session cookie.
    fn cookie_with(&self, value: &str, max_age: Option<i64>) -> String {
        let same_site = match self.settings.cookie_same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        };
        let secure = if self.settings.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        let max_age = match max_age {
            Some(seconds) => format!("; Max-Age={seconds}"),
            None => String::new(),
        };
        format!(
            "{}={value}{max_age}; Path=/; HttpOnly{secure}; SameSite={same_site}",
            self.settings.cookie_name
        )
    }
}

fn is_live(session: &session::Model, user: &user::Model, now: DateTime<Utc>) -> bool {
    session.expires_at > now && session.absolute_expires_at > now && user.is_active
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the operating system's random generator failed: {0}")]
    Random(#[from] getrandom::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A user's live sessions, newest first: what the sessions page and `spa-auth sessions list`
/// show.
pub async fn list_for_user(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> Result<Vec<session::Model>, DbErr> {
    session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::ExpiresAt.gt(Utc::now()))
        .order_by_desc(session::Column::CreatedAt)
        .all(db)
        .await
}
