//! Cross-instance invalidation: a security operation answers only once every live instance has
//! dropped what it cached, so another instance refuses the ended session on its very next
//! request, with no sleep in between; and an instance that loses its listening connection
//! turns its cache off until it listens again and has caught up.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use spa_auth_tests::{
    Api, Db, Instance, StatusCode, TestApp, assert_error, db_test, open_session_in, spawn_app,
};

const PASSWORD: &str = "correct horse battery";

/// Waits until an instance's session cache is in use (its watcher has polled, and listens
/// when push is on): before that, every check reads the database and proves nothing here.
async fn cache_in_use(instance: &Instance) {
    let cache = instance.state.sessions.cache();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cache.is_usable() {
        assert!(Instant::now() < deadline, "the cache never came into use");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads a session on `other` until it is cached there.
async fn cached_on(other: &Instance, token: &str) {
    let before = other.state.sessions.cache().len();
    for _ in 0..3 {
        assert_eq!(other.me(Some(token)).await.status(), StatusCode::OK);
    }
    assert!(
        other.state.sessions.cache().len() > before,
        "the session was not cached on the other instance"
    );
}

async fn refused(api: &Api, token: &str, what: &str) {
    let resp = api.me(Some(token)).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "{what}: the other instance still served the session on its very next request"
    );
    assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
}

async fn roles_of(api: &Api, token: &str) -> Vec<String> {
    let resp = api.me(Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.expect("me body");
    body["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

async fn two_instances(db: Db) -> (TestApp, Instance) {
    let app = spawn_app(db).await;
    let other = Instance::start(&app.test_db.url, &[]).await;
    cache_in_use(&other).await;
    (app, other)
}

db_test!(
    async fn a_session_ended_on_one_instance_is_refused_by_the_next_request_of_another(db) {
        let (app, other) = two_instances(db).await;
        let alice = app.create_user("alice", PASSWORD).await;
        for round in 0..5 {
            // Logout.
            let t = app.login_ok("alice", PASSWORD).await;
            cached_on(&other, &t).await;
            assert_eq!(app.logout(Some(&t)).await.status(), StatusCode::NO_CONTENT);
            refused(&other, &t, &format!("logout, round {round}")).await;

            // Ending one session from another one.
            let mine = app.login_ok("alice", PASSWORD).await;
            let victim = open_session_in(&other.state, alice.id, "stolen").await;
            cached_on(&other, &victim).await;
            let id = app.session_for(&victim).await.expect("victim session").id;
            let path = format!("/api/auth/sessions/{id}");
            let resp = app.send(reqwest::Method::DELETE, &path, Some(&mine), &[]).await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "end one session");
            refused(&other, &victim, &format!("ending one session, round {round}")).await;

            // "End my other sessions".
            let victim = open_session_in(&other.state, alice.id, "stolen").await;
            cached_on(&other, &victim).await;
            let resp = app.send(reqwest::Method::DELETE, "/api/auth/sessions", Some(&mine), &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "end other sessions");
            refused(&other, &victim, &format!("end my other sessions, round {round}")).await;
            assert_eq!(other.me(Some(&mine)).await.status(), StatusCode::OK);
            assert_eq!(app.logout(Some(&mine)).await.status(), StatusCode::NO_CONTENT);
        }
    }
);

db_test!(
    async fn a_password_change_on_one_instance_is_refused_by_the_next_request_of_another(db) {
        let (app, other) = two_instances(db).await;
        let alice = app.create_user("alice", PASSWORD).await;
        let mut password = PASSWORD.to_owned();
        for round in 0..3 {
            let mine = app.login_ok("alice", &password).await;
            let stolen = open_session_in(&other.state, alice.id, "stolen").await;
            cached_on(&other, &stolen).await;
            cached_on(&other, &mine).await;
            let new = format!("a brand new passphrase {round}");
            let resp = app.change_password(&mine, &password, &new, &[]).await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{:?}", resp.text().await);
            password = new;
            refused(&other, &stolen, &format!("password change, round {round}")).await;
            refused(&other, &mine, &format!("password change (old cookie), round {round}")).await;
        }
    }
);

db_test!(
    async fn a_role_change_or_deactivation_applies_to_the_next_request_of_every_instance(db) {
        let (app, other) = two_instances(db).await;
        let alice = app.create_user("alice", PASSWORD).await;
        let t = open_session_in(&other.state, alice.id, "laptop").await;
        cached_on(&other, &t).await;
        for round in 0..3 {
            let user = app.user("alice").await;
            assert!(spa_auth::users::change_role(&app.db, user, "staff", true).await.unwrap());
            assert_eq!(roles_of(&other, &t).await, ["staff"], "grant, round {round}");
            let user = app.user("alice").await;
            assert!(spa_auth::users::change_role(&app.db, user, "staff", false).await.unwrap());
            assert!(roles_of(&other, &t).await.is_empty(), "revoke, round {round}");
        }
        spa_auth::users::set_active(&app.db, app.user("alice").await, false).await.unwrap();
        refused(&other, &t, "deactivation").await;
    }
);

/// The server processes of this test's database that hold a `LISTEN`.
async fn listeners(app: &TestApp) -> Vec<i32> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        ))
        .await
        .expect("pg_stat_activity");
    rows.iter()
        .map(|r| r.try_get::<i32>("", "pid").expect("pid"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_listening_connection_turns_the_cache_off_until_it_is_back_with_nothing_stale() {
    let (app, other) = two_instances(Db::Postgres).await;
    let cache = other.state.sessions.cache().clone();
    let alice = app.create_user("alice", PASSWORD).await;
    let t = open_session_in(&other.state, alice.id, "laptop").await;
    cached_on(&other, &t).await;
    let pids = listeners(&app).await;
    assert_eq!(
        pids.len(),
        2,
        "one listening connection per instance: {pids:?}"
    );

    for pid in &pids {
        app.db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_terminate_backend({pid})"),
            ))
            .await
            .expect("pg_terminate_backend");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while cache.is_usable() {
        assert!(
            Instant::now() < deadline,
            "the cache stayed on without its listener"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let off = Instant::now();
    assert!(cache.is_empty(), "the cache was turned off but not emptied");

    // Ended while the other instance is not listening: its notification is lost for it.
    assert_eq!(app.logout(Some(&t)).await.status(), StatusCode::NO_CONTENT);
    refused(&other, &t, "logout while the listener was down").await;

    let deadline = Instant::now() + Duration::from_secs(5);
    while !cache.is_usable() {
        // Whatever it is doing meanwhile, it never serves the ended session.
        refused(&other, &t, "logout, while reconnecting").await;
        assert!(Instant::now() < deadline, "the cache never came back on");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "listener loss: cache off for {} ms",
        off.elapsed().as_millis()
    );
    refused(&other, &t, "logout, after the catch-up poll").await;
    // The wait above was for `other`; `app` reconnects on its own schedule.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = listeners(&app).await;
    while again.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        again = listeners(&app).await;
    }
    assert_eq!(again.len(), 2, "listening again: {again:?}");
    assert!(
        again.iter().all(|p| !pids.contains(p)),
        "the old connections survived"
    );

    // Pushed again: a session cached after the reconnection is dropped at once.
    let t2 = open_session_in(&other.state, alice.id, "phone").await;
    cached_on(&other, &t2).await;
    assert_eq!(app.logout(Some(&t2)).await.status(), StatusCode::NO_CONTENT);
    refused(&other, &t2, "logout after the reconnection").await;
}
