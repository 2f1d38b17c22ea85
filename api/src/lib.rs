//! spa-auth: server-side sessions behind an HttpOnly cookie, for single-page apps.
//!
//! Run it as a service (`spa-auth serve`), or embed it in your own Rust service as a library,
//! as this page shows: spa-auth's tables live in your database, its API sits beside yours,
//! and your own endpoints learn who is calling, with revocation that holds on the very next
//! request and CSRF defence for free. Two tested examples: `examples/notes` (poem-openapi)
//! and `examples/axum`.
//!
//! # Build it from your database connection
//!
//! [`SpaAuth::new`] checks the settings, runs spa-auth's migrations on your connection and
//! gets its parts ready. [`SpaAuthSettings::default`] has the defaults of `spa-auth serve`.
//! [`SpaAuth::background`] is the work spa-auth needs done while it serves (the cache watcher
//! that makes revocations from other instances and the CLI reach this process, the purge of
//! expired sessions, the survey behind the login decoys, and with mail on (`settings.mail`)
//! the sender that delivers the mail outbox): spawn it. Forgetting it costs
//! speed, never correctness: the session cache is unused until the watcher's first
//! successful poll, so every request then reads its session from the database.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use spa_auth::{SpaAuth, SpaAuthSettings};
//!
//! let db = sea_orm::Database::connect("sqlite://app.db?mode=rwc").await?;
//! let mut settings = SpaAuthSettings::default();
//! settings.trusted_origins = vec!["https://app.example.com".into()];
//! let spa = SpaAuth::new(db, settings).await?;
//! let background = tokio::spawn(spa.background());
//! // ... serve, then at shutdown:
//! background.abort();
//! # Ok(()) }
//! ```
//!
//! spa-auth's migrations keep their own record in SeaORM's default table `seaql_migrations`:
//! if your service migrates the same database with `sea-orm-migration`, give your migrator
//! another table (`MigratorTrait::migration_table_name`), or each migrator will find the
//! other's migrations unknown and refuse to run.
//!
//! # Mount its API, and protect your own poem-openapi operations
//!
//! [`SpaAuth::api`] is spa-auth's own API (`/api/auth/login`, `/api/auth/logout`, `/api/me`,
//! the account's sessions and password, `/healthz`) with its middleware: nest it at `/`, and
//! your API beside it under prefixes of its own (`nest_no_strip` keeps the operations' paths
//! whole, so that your spec shows the paths clients call).
//! Wrap your own routes in [`SpaAuth::protect`]: in there, an operation that takes a
//! [`SessionAuth`] answers 401 (clearing the cookie) without a live session, your emitted
//! spec lists spa-auth's `sessionCookie` security scheme on it, a session whose idle deadline
//! slid gets its cookie re-sent, and an unsafe method from another site is refused with 403
//! `csrf_rejected`, by the same policy as spa-auth's own endpoints (`trusted_origins`,
//! `public_url`).
//!
//! ```no_run
//! use poem::{EndpointExt, Route};
//! use poem_openapi::{Object, OpenApi, OpenApiService, payload::Json};
//! use spa_auth::{ProtectedError, SessionAuth, SpaAuth};
//!
//! #[derive(Object)]
//! struct Greeting {
//!     text: String,
//! }
//!
//! struct HelloApi;
//!
//! #[OpenApi]
//! impl HelloApi {
//!     /// Greet the logged-in user.
//!     #[oai(path = "/api/hello", method = "get")]
//!     async fn hello(&self, auth: SessionAuth) -> Result<Json<Greeting>, ProtectedError> {
//!         let text = format!("hello, {}", auth.current.user.username);
//!         Ok(Json(Greeting { text }))
//!     }
//!
//!     /// Only for admins: 403 `forbidden` for everyone else.
//!     #[oai(path = "/api/hello/admin", method = "post")]
//!     async fn admin(&self, auth: SessionAuth) -> Result<Json<Greeting>, ProtectedError> {
//!         auth.require_role("admin")?;
//!         Ok(Json(Greeting { text: "hello, admin".into() }))
//!     }
//! }
//!
//! fn app(spa: &SpaAuth) -> impl poem::Endpoint {
//!     let mine = OpenApiService::new(HelloApi, "hello", "1.0");
//!     // Without stripping the prefix: the operations declare their whole paths.
//!     Route::new()
//!         .nest_no_strip("/api/hello", mine.with(spa.protect()))
//!         .nest("/", spa.api())
//! }
//! ```
//!
//! Any role of a list will do with [`SessionAuth::require_any_role`]. Both return
//! [`ApiError`], which `?` turns into [`ProtectedError`] (the responses your spec then
//! documents) or into a `poem::Error` carrying spa-auth's JSON error body. Roles are granted
//! and revoked with `spa-auth user grant/revoke`; the next request sees the change.
//!
//! # Other frameworks: `authenticate`
//!
//! [`SpaAuth::authenticate`] takes the request's headers as the `http` crate's `HeaderMap`
//! (axum 0.8, hyper 1 and poem 3 all use `http` 1) and returns the live session, if any: an
//! extractor in a few lines (`examples/axum` has one for axum). [`SpaAuth::cross_site_allowed`]
//! applies spa-auth's cross-site policy to an unsafe method, as `protect` does for poem.
//!
//! ```no_run
//! use spa_auth::{SpaAuth, http_types::HeaderMap};
//!
//! /// `Ok(username)`, or the status to answer.
//! async fn who(spa: &SpaAuth, headers: &HeaderMap) -> Result<String, u16> {
//!     match spa.authenticate(headers).await {
//!         Ok(Some(found)) => Ok(found.current.user.username.clone()),
//!         Ok(None) => Err(401),
//!         Err(e) if e.is_outage() => Err(503),
//!         Err(_) => Err(500),
//!     }
//! }
//! ```
//!
//! # Layers
//!
//! The modules are layered: the domain (everything but `http`, `server` and `cli`) never
//! names poem; `http` declares the API; `server` builds and runs it ([`SpaAuth`] lives there,
//! since it owns the background work); `cli` is the command line.

pub mod account_policy;
pub mod accounts;
pub mod authentication;
pub mod cli;
pub mod database;
pub mod http;
pub mod mail;
pub mod passkey_policy;
pub mod passkeys;
pub mod passwords;
pub mod second_factor;
pub mod second_factor_policy;
pub mod server;
pub mod services;
pub mod sessions;
pub mod telemetry;
pub mod throttle;
pub mod users;

pub use http::{ProtectedError, errors::ApiError, extractors::SessionAuth, protect::Protect};
pub use server::{AuthenticateError, Authenticated, BuildError, SpaAuth, SpaAuthSettings};
pub use sessions::Current;

/// The `http` crate (1.x) as poem re-exports it: the `HeaderMap` of
/// [`SpaAuth::authenticate`] is the one axum 0.8 and hyper 1 use.
pub use poem::http as http_types;
