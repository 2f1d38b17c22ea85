//! Black-box tests of spa-auth over real HTTP, each on SQLite and on PostgreSQL.
//! One test binary; run with `cargo nextest run -p spa-auth-tests` (a process per test).

mod config;
mod expiry;
mod healthz;
mod logging;
mod login;
mod logout;
mod mail_outbox;
mod malformed;
mod me;
mod sessions;
mod shutdown;
mod users;

// Accounts people run themselves: sign-up, verification, reset by email.
mod email_verification;
mod password_reset;
mod signup;

// Account security: CSRF, throttling, sessions and password, roles, hygiene, limits, SPA,
// metrics, property tests.
mod account;
mod control_chars;
mod csrf;
mod db_faults;
mod embedding;
mod forward_auth;
mod forwarded;
mod hygiene;
mod invalidation;
mod limits;
mod metrics;
mod passkeys;
mod proptests;
mod races;
mod remember_me;
mod request_id;
mod roles;
mod second_factor;
mod spa;
mod step_up;
mod stuck_database;
mod throttling;
mod timing;
mod traces;
