//! spa-auth inside a host application: its parts built from the host's database connection,
//! its background work handed over as one future, its API, and what protects the host's own
//! routes. `spa-auth serve` is built through the same code ([`super::Application::build`]).

use std::{future::Future, time::Duration};

use poem::{
    Endpoint, Response,
    http::{HeaderMap, Method, Uri},
};
use sea_orm::{DatabaseConnection, DbErr};

use crate::{
    database,
    http::{
        extractors::session_token_in,
        middleware::{
            csrf::{CrossOrigin, SiteOrigin},
            limits::BodyLimits,
        },
        protect::Protect,
        state::{AppState, State},
    },
    mail::{MailError, Sender},
    passwords::Passwords,
    server::settings::{SettingsError, SpaAuthSettings},
    services::Services,
    sessions::{
        Current, Sessions,
        cache::{DbHealth, WatchSettings},
    },
    throttle::Throttle,
};

/// Why spa-auth's parts could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Settings that contradict each other or that browsers would ignore.
    #[error("invalid configuration: {0}")]
    Settings(#[from] SettingsError),
    /// Password hashing parameters argon2 refuses.
    #[error("invalid configuration: {0}")]
    Passwords(#[from] crate::passwords::SettingsError),
    /// The migrations failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// The survey of stored password hashes, or the shared decoy key, could not be read.
    #[error("login decoys: {0}")]
    Decoy(#[from] crate::passwords::decoy::DecoyError),
    /// The mail settings or a mail template (an override that does not render).
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// Why [`SpaAuth::authenticate`] could not say whether a request has a live session.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Reading the session failed; [`AuthenticateError::is_outage`] tells a 503 from a 500.
    #[error("reading the session failed: {0}")]
    Db(#[from] DbErr),
}

impl AuthenticateError {
    /// Whether the database is unreachable (answer 503, waiting may help) rather than a
    /// fault (500).
    pub fn is_outage(&self) -> bool {
        match self {
            AuthenticateError::Db(e) => database::is_outage(e),
        }
    }
}

/// A request with a live session, as [`SpaAuth::authenticate`] finds it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session and its user (roles included), as stored at this request.
    pub current: Current,
    /// A `Set-Cookie` value to send with the response when this request pushed the session's
    /// idle deadline forward; without it the browser's cookie expires before the session.
    pub set_cookie: Option<String>,
}

/// spa-auth's parts, ready to serve: sessions, users, password hashing and throttling on the
/// host's database, with spa-auth's API and a middleware for the host's own routes.
///
/// Cheap to clone: every clone shares the same cache and connection pool.
#[derive(Clone)]
pub struct SpaAuth {
    state: AppState,
    limits: BodyLimits,
    purge_interval: Duration,
    watch: WatchSettings,
    decoy_refresh: Duration,
    /// The mail sender, when mail is on.
    mail: Option<Sender>,
}

impl SpaAuth {
    /// Checks `settings`, runs spa-auth's migrations on `db` (its own tables; see the crate
    /// documentation about the migration table) and surveys the stored password hashes for
    /// the login decoys. Run [`SpaAuth::background`] next to it.
    pub async fn new(
        db: DatabaseConnection,
        settings: SpaAuthSettings,
    ) -> Result<Self, BuildError> {
        settings.validate()?;
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let push = settings
            .session
            .push_on(postgres)
            .map_err(SettingsError::from)?;
        database::migrate(&db).await?;
        let mail = match settings.mail.enabled() {
            true => Some(Sender::new(db.clone(), &settings.mail)?),
            false => None,
        };
        let services = Services {
            sessions: Sessions::new(db.clone(), settings.session.clone()),
            passwords: Passwords::new(&settings.password)?,
            throttle: Throttle::new(db.clone(), settings.throttle.clone()),
            accounts: settings.accounts(),
            second_factor: crate::second_factor_policy::SecondFactor::new(&settings.second_factor)
                .map_err(SettingsError::from)?,
            passkeys: crate::passkey_policy::Passkeys::new(
                &settings.passkey,
                settings.public_url.as_deref(),
            )
            .map_err(SettingsError::from)?,
            db,
        };
        let state = AppState::new(State {
            services,
            health: DbHealth::new(true),
            trust_proxy: settings.trust_proxy,
            cross_origin: CrossOrigin::new(
                &settings.trusted_origins,
                settings.public_url.as_deref().and_then(SiteOrigin::parse),
            ),
        });
        state.passwords.decoys().load(&state.db).await?;
        Ok(SpaAuth {
            state,
            limits: BodyLimits {
                max_bytes: settings.max_body_bytes,
                timeout: settings.body_timeout,
            },
            purge_interval: settings.purge_interval,
            watch: WatchSettings {
                poll: settings.session.invalidation_poll,
                safety_poll: settings.session.invalidation_safety_poll,
                push,
            },
            decoy_refresh: settings.password.decoy_refresh,
            mail,
        })
    }

    /// The work spa-auth needs done while it serves, as one future that never ends: the
    /// cache watcher (which applies another instance's or the CLI's revocation as PostgreSQL
    /// pushes it, or within two polls, and tells the instance registry so that the revoking
    /// side can wait for it), the purge of expired sessions and login counters, and the
    /// survey behind the login decoys, and, when mail is on, the sender that delivers the
    /// mail outbox (a message waits there, through outages and restarts, until an instance
    /// runs this). Spawn it (`tokio::spawn(spa.background())`) and abort it at shutdown.
    ///
    /// Forgetting it costs speed, never correctness: the session cache stays unused until
    /// the watcher's first successful poll, so every request reads its session from the
    /// database.
    pub fn background(&self) -> impl Future<Output = ()> + Send + 'static {
        let state = self.state.clone();
        let watch = crate::sessions::cache::watch(
            state.db.clone(),
            state.sessions.cache().clone(),
            state.health.clone(),
            self.watch,
        );
        let decoys = crate::passwords::decoy::refresh_loop(
            state.db.clone(),
            state.passwords.clone(),
            self.decoy_refresh,
        );
        let mail = self.mail.clone().map(|sender| {
            let (db, accounts) = (state.db.clone(), state.accounts.clone());
            sender.run(move |row| {
                let (db, accounts) = (db.clone(), accounts.clone());
                async move { crate::accounts::compose::compose(&db, &accounts, &row).await }
            })
        });
        let purge = purge_loop(state, self.purge_interval);
        async move {
            let mail = async move {
                if let Some(mail) = mail {
                    mail.await
                }
            };
            tokio::join!(watch, decoys, purge, mail);
        }
    }

    /// spa-auth's own API (log in and out, `/api/me`, the account, `/healthz`) at its usual
    /// paths, with its middleware (JSON errors, limits, CSRF): nest it in the host's `Route`
    /// at `/`.
    pub fn api(&self) -> impl Endpoint<Output = Response> + use<> {
        crate::http::app::api(self.state.clone(), self.limits)
    }

    /// The middleware for the host's own poem routes: see [`Protect`].
    pub fn protect(&self) -> Protect {
        Protect::new(self.state.clone())
    }

    /// The live session a request's `Cookie` headers carry, if any, for any framework built
    /// on the `http` crate (axum, hyper, tonic; poem re-exports it). `Ok(None)` means no
    /// cookie, or one of an ended, expired or unknown session, or of one that still awaits its
    /// second factor (`Sessions::find` tells them apart): answer 401.
    ///
    /// It makes the same check as spa-auth's own endpoints, from the same cache, and slides
    /// the idle deadline the same way. It does not judge cross-site requests: call
    /// [`SpaAuth::cross_site_allowed`] too.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Authenticated>, AuthenticateError> {
        let sessions = &self.state.sessions;
        let Some(token) = session_token_in(headers, sessions.cookie_name()) else {
            return Ok(None);
        };
        let Some(current) = sessions.authenticate(&token).await? else {
            return Ok(None);
        };
        let set_cookie = sessions.renewal_cookie(&current, &token);
        Ok(Some(Authenticated {
            current,
            set_cookie,
        }))
    }

    /// Whether spa-auth's cross-site policy lets this request change state, for frameworks
    /// other than poem (where [`SpaAuth::protect`] applies it): safe methods always pass; an
    /// unsafe one from another site, unless from a trusted origin, does not, and deserves 403
    /// `csrf_rejected`. The same policy as spa-auth's own endpoints.
    pub fn cross_site_allowed(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        self.state.cross_origin.allows_request(method, uri, headers)
    }

    /// A `Set-Cookie` value that makes the browser drop the session cookie: send it with a
    /// 401 so that the browser stops sending a dead cookie.
    pub fn clear_cookie(&self) -> String {
        self.state.sessions.clear_cookie()
    }

    /// The body limits of spa-auth's own API, for the whole application of `spa-auth serve`.
    pub(crate) fn limits(&self) -> BodyLimits {
        self.limits
    }

    /// The services and HTTP settings spa-auth runs on: sessions, users' passwords, the
    /// throttle and the database, for what the API above does not cover.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

async fn purge_loop(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.sessions.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
        if let Err(e) = state.throttle.purge().await {
            tracing::warn!(error = %e, "purging login counters failed");
        }
        if let Err(e) = crate::accounts::tokens::purge(&state.db).await {
            tracing::warn!(error = %e, "purging spent and expired link tokens failed");
        }
        if let Err(e) = crate::passkeys::ceremony::purge(&state.db).await {
            tracing::warn!(error = %e, "purging expired passkey ceremonies failed");
        }
    }
}
