//! Real nginx and Caddy in front of spa-auth's forward-auth endpoint (`GET /api/auth/verify`)
//! and of a team's own API, each running the config shipped in `deploy/`. Every behaviour is
//! checked through both proxies, on SQLite and on PostgreSQL, over real HTTP. A proxy that is
//! not installed fails its tests (tests/run-all.sh installs both from Debian).

mod harness;

/// Runs one async test body through each proxy on each database:
/// `proxy_test!(async fn name(proxy, db) { ... })` expands to a module `name` with the tests
/// `nginx_sqlite`, `nginx_postgres`, `caddy_sqlite` and `caddy_postgres`; the body usually
/// starts with `let s = Stack::start(proxy, db).await;`.
macro_rules! proxy_test {
    ($(#[$meta:meta])* async fn $name:ident($proxy:ident, $db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use crate::harness::Kind;
            use spa_auth_tests::Db;

            async fn body($proxy: Kind, $db: Db) $body

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nginx_sqlite() {
                body(Kind::Nginx, Db::Sqlite).await
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nginx_postgres() {
                body(Kind::Nginx, Db::Postgres).await
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn caddy_sqlite() {
                body(Kind::Caddy, Db::Sqlite).await
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn caddy_postgres() {
                body(Kind::Caddy, Db::Postgres).await
            }
        }
    };
}

mod forward_auth;
