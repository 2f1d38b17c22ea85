//! A stuck database (a lock held by someone else) gets a quick 503 `unavailable` with
//! `Retry-After`, as an unreachable one does, within about `--db-timeout`; nothing is lost, and
//! once the lock is released the same requests succeed without a restart.

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::session;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection};
use spa_auth_tests::{
    Db, Instance, Response, StatusCode, TestApp, assert_error, db_test, spawn_app_with,
};

/// The bound the tests run with, short so that they stay quick.
const BOUND: &str = "500ms";
/// The most a request may take with the bound above: generous for a loaded machine, far
/// below the time the lock is held (until the test releases it).
const AT_MOST: Duration = Duration::from_millis(2500);
/// The most with every pooled connection taken: a request waits for a connection (opening
/// one included), then for the lock, each wait bounded (measured: 1.0 s on PostgreSQL, 1.6 s
/// on SQLite).
const SATURATED: Duration = Duration::from_millis(3000);

async fn spawn_bounded(db: Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(["--db-timeout".into(), BOUND.into()])
    })
    .await
}

/// A connection of its own holding the sessions table: PostgreSQL's strongest table lock
/// (reads wait too), or SQLite's write lock on the whole file (in WAL mode, reads go on).
/// Dropping the connection, or [`release`], lets go.
async fn hold_sessions_lock(app: &TestApp) -> DatabaseConnection {
    let mut opts = sea_orm::ConnectOptions::new(app.test_db.url.clone());
    // One connection, so that every statement below runs on the one holding the lock.
    opts.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let holder = Database::connect(opts)
        .await
        .expect("cannot connect the lock holder");
    let statements: &[&str] = match app.test_db.kind {
        Db::Postgres => &["BEGIN", "LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"],
        Db::Sqlite => &[
            "BEGIN EXCLUSIVE",
            "UPDATE sessions SET user_agent = user_agent",
        ],
    };
    for sql in statements {
        holder
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    holder
}

async fn release(holder: DatabaseConnection) {
    holder
        .execute_unprepared("ROLLBACK")
        .await
        .expect("cannot release the lock");
    holder.close().await.expect("cannot close the lock holder");
}

/// Sends a request and says how long the answer took.
async fn timed(request: impl std::future::Future<Output = Response>) -> (Response, Duration) {
    let started = Instant::now();
    let resp = request.await;
    (resp, started.elapsed())
}

async fn assert_quick_unavailable(resp: Response, took: Duration, what: &str) {
    assert_quick_unavailable_within(resp, took, AT_MOST, what).await;
}

async fn assert_quick_unavailable_within(
    resp: Response,
    took: Duration,
    at_most: Duration,
    what: &str,
) {
    assert!(
        took < at_most,
        "{what} took {took:?} behind a held lock (bound {BOUND}, at most {at_most:?})"
    );
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1"),
        "{what}: no Retry-After"
    );
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

/// Moves the session's last sighting back an hour, so that the next request slides its idle
/// deadline: a write, which waits for the lock on either database.
async fn make_idle(app: &TestApp, token: &str) {
    let stored = app.session_for(token).await.expect("no such session");
    let mut active: session::ActiveModel = stored.into();
    active.last_seen_at = Set(Utc::now() - chrono::Duration::hours(1));
    active
        .update(&app.db)
        .await
        .expect("cannot age the session");
}

db_test!(
    async fn a_session_stuck_behind_a_held_lock_gets_a_quick_503_and_works_once_it_is_released(
        db
    ) {
        let app = spawn_bounded(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        // Opened behind the service's back: not in its cache.
        let token = app.open_session(alice.id, "test").await;
        make_idle(&app, &token).await;
        let holder = hold_sessions_lock(&app).await;

        for attempt in 1..=2 {
            let (resp, took) = timed(app.me(Some(&token))).await;
            assert_quick_unavailable(resp, took, &format!("GET /api/me #{attempt}")).await;
        }

        release(holder).await;
        let resp = app.me(Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK, "the session was lost");
        assert_eq!(app.sessions_of(alice.id).await.len(), 1);
    }
);

db_test!(
    async fn a_login_stuck_behind_a_held_lock_gets_a_quick_503_and_succeeds_once_it_is_released(
        db
    ) {
        let app = spawn_bounded(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let holder = hold_sessions_lock(&app).await;

        for attempt in 1..=2 {
            let (resp, took) = timed(app.login("alice", "correct horse battery")).await;
            assert_quick_unavailable(resp, took, &format!("login #{attempt}")).await;
        }

        release(holder).await;
        // Neither a half-opened session nor a throttle charge is left behind.
        assert!(app.sessions_of(alice.id).await.is_empty());
        let token = app.login_ok("alice", "correct horse battery").await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_session_read_that_needs_no_write_is_bounded_as_well(db) {
        let app = spawn_bounded(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let token = app.open_session(alice.id, "test").await;
        let holder = hold_sessions_lock(&app).await;

        let (resp, took) = timed(app.me(Some(&token))).await;
        match db {
            // PostgreSQL's table lock stops readers too: they wait the bound, then 503.
            Db::Postgres => assert_quick_unavailable(resp, took, "GET /api/me").await,
            // In WAL mode, SQLite's readers never wait for the writer.
            Db::Sqlite => {
                assert!(took < AT_MOST, "GET /api/me took {took:?}");
                assert_eq!(resp.status(), StatusCode::OK);
            }
        }

        release(holder).await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
    }
);

/// Instances started together on PostgreSQL queue for the migration lock; a migration that
/// takes longer than the bound must not make the others give up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_waits_out_a_migration_longer_than_the_bound() {
    let app = spawn_bounded(Db::Postgres).await;
    let holder = {
        let mut opts = sea_orm::ConnectOptions::new(app.test_db.url.clone());
        opts.max_connections(1).sqlx_logging(false);
        Database::connect(opts).await.expect("cannot connect")
    };
    // The lock `database::migrate` takes, as an instance migrating for a while holds it.
    holder
        .execute_unprepared("SELECT pg_advisory_lock(7411905613)")
        .await
        .expect("cannot take the migration lock");
    let url = app.test_db.url.clone();
    let starting =
        tokio::spawn(async move { Instance::start(&url, &["--db-timeout", BOUND]).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !starting.is_finished(),
        "the instance did not wait for the migration lock"
    );
    holder
        .execute_unprepared("SELECT pg_advisory_unlock(7411905613)")
        .await
        .expect("cannot release the migration lock");
    let second = starting.await.expect("the instance did not start");
    assert_eq!(second.healthz().await.status(), StatusCode::OK);
}

db_test!(
    async fn many_requests_stuck_at_once_all_get_their_503_quickly(db) {
        let app = spawn_bounded(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        // Three times the pool (16): most requests first wait for a connection, then for the
        // lock, each wait bounded.
        let mut tokens = Vec::new();
        for _ in 0..48 {
            let token = app.open_session(alice.id, "test").await;
            make_idle(&app, &token).await;
            tokens.push(token);
        }
        let holder = hold_sessions_lock(&app).await;

        let requests: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (api, token) = (app.api.clone(), token.clone());
                tokio::spawn(async move { timed(api.me(Some(&token))).await })
            })
            .collect();
        for (i, request) in requests.into_iter().enumerate() {
            let (resp, took) = request.await.expect("a request task panicked");
            let what = format!("GET /api/me #{i}");
            assert_quick_unavailable_within(resp, took, SATURATED, &what).await;
        }

        release(holder).await;
        for token in &tokens {
            assert_eq!(app.me(Some(token)).await.status(), StatusCode::OK);
        }
    }
);
