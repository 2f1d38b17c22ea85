//! Roles and the one invalidation model: a change made through the real CLI (another process)
//! reaches the very next request of every session of the user, on every instance, however
//! warm their caches, and moves the user's security epoch.

use std::time::Duration;

use spa_auth_tests::{
    Api, Instance, StatusCode, TestApp, assert_error, db_test, open_session_in, spawn_app,
};

/// `GET /api/me` and the user's roles, asserting 200, on the test app or on another instance.
async fn roles_of(app: &Api, token: &str) -> Vec<String> {
    let resp = app.me(Some(token)).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET /api/me");
    let body: serde_json::Value = resp.json().await.expect("me body");
    body["roles"]
        .as_array()
        .expect("roles is an array")
        .iter()
        .map(|r| r.as_str().expect("role is a string").to_owned())
        .collect()
}

/// Two sessions on the test app and one on a second instance, all with warm caches.
async fn warm(app: &TestApp, other: &Instance, user: uuid::Uuid) -> (String, String, String) {
    let a = app.open_session(user, "laptop").await;
    let b = app.open_session(user, "phone").await;
    let c = open_session_in(&other.state, user, "tablet").await;
    for _ in 0..4 {
        for t in [&a, &b] {
            assert_eq!(app.me(Some(t)).await.status(), StatusCode::OK);
        }
        assert_eq!(other.me(Some(&c)).await.status(), StatusCode::OK);
    }
    (a, b, c)
}

async fn epoch(app: &TestApp, username: &str) -> i64 {
    app.user(username).await.security_epoch
}

db_test!(
    async fn grant_and_revoke_reach_every_session_on_the_next_request(db) {
        let app = spawn_app(db).await;
        let other = Instance::start(&app.test_db.url, &[]).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let bob = app.create_user_with_hash("bob", None).await;
        let (a, b, c) = warm(&app, &other, alice.id).await;
        let bobs = app.open_session(bob.id, "bob").await;
        assert!(roles_of(&app, &a).await.is_empty());
        assert!(roles_of(&app, &bobs).await.is_empty());
        let e0 = epoch(&app, "alice").await;

        let out = app.cli(&["user", "grant", "alice", "admin"]).await;
        assert!(out.contains("granted"), "{out}");

        assert_eq!(roles_of(&app, &a).await, ["admin"]);
        assert_eq!(roles_of(&app, &b).await, ["admin"]);
        assert_eq!(roles_of(&other, &c).await, ["admin"]);
        assert!(roles_of(&app, &bobs).await.is_empty(), "bob got alice's role");
        let e1 = epoch(&app, "alice").await;
        assert!(e1 > e0, "grant did not move the epoch ({e0} -> {e1})");
        // A second role, kept sorted with the first.
        app.cli(&["user", "grant", "alice", "auditor"]).await;
        assert_eq!(roles_of(&app, &b).await, ["admin", "auditor"]);

        let e2 = epoch(&app, "alice").await;
        let out = app.cli(&["user", "revoke", "alice", "admin"]).await;
        assert!(out.contains("revoked"), "{out}");

        assert_eq!(roles_of(&app, &a).await, ["auditor"]);
        assert_eq!(roles_of(&app, &b).await, ["auditor"]);
        assert_eq!(roles_of(&other, &c).await, ["auditor"]);
        assert!(epoch(&app, "alice").await > e2, "revoke did not move the epoch");
        // No session ended on the way.
        assert_eq!(app.sessions_of(alice.id).await.len(), 3);
    }
);

db_test!(
    async fn operator_revocation_ends_every_session_at_once(db) {
        let app = spawn_app(db).await;
        let other = Instance::start(&app.test_db.url, &[]).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let bob = app.create_user_with_hash("bob", None).await;
        let (a, b, c) = warm(&app, &other, alice.id).await;
        let bobs = app.open_session(bob.id, "bob").await;
        let e0 = epoch(&app, "alice").await;

        let out = app.cli(&["sessions", "revoke", "alice"]).await;
        assert!(out.contains("ended 3"), "{out}");

        for t in [&a, &b] {
            assert_error(app.me(Some(t)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert_error(other.me(Some(&c)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
            .await;
        assert!(app.sessions_of(alice.id).await.is_empty());
        assert!(epoch(&app, "alice").await > e0, "revocation did not move the epoch");
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn deactivation_ends_every_session_and_login(db) {
        let app = spawn_app(db).await;
        let other = Instance::start(&app.test_db.url, &[]).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        let (a, b, c) = warm(&app, &other, alice.id).await;
        let e0 = epoch(&app, "alice").await;

        app.cli(&["user", "deactivate", "alice"]).await;

        for t in [&a, &b] {
            assert_error(app.me(Some(t)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert_error(other.me(Some(&c)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
            .await;
        let e1 = epoch(&app, "alice").await;
        assert!(e1 > e0, "deactivation did not move the epoch");
        assert_error(
            app.login("alice", "correct horse battery").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;

        app.cli(&["user", "activate", "alice"]).await;
        assert!(epoch(&app, "alice").await > e1, "activation did not move the epoch");
        for t in [&a, &b] {
            assert_error(app.me(Some(t)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        app.login_ok("alice", "correct horse battery").await;
    }
);

db_test!(
    async fn a_direct_database_change_applies_within_the_propagation_bound(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "laptop").await;
        for _ in 0..4 {
            assert!(roles_of(&app, &token).await.is_empty());
        }

        let changed = spa_auth::users::change_role(&app.db, app.user("alice").await, "staff", true)
            .await
            .unwrap();
        assert!(changed);
        tokio::time::sleep(spa_auth::sessions::cache::propagation_bound(Duration::from_millis(50))).await;

        assert_eq!(roles_of(&app, &token).await, ["staff"]);
    }
);

db_test!(
    async fn invalid_roles_and_unknown_users_are_refused_by_the_cli(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user_with_hash("alice", None).await;
        let token = app.open_session(alice.id, "laptop").await;
        let e0 = epoch(&app, "alice").await;
        for args in [
            ["user", "grant", "alice", "has space"],
            ["user", "grant", "nobody", "admin"],
        ] {
            let out = app.cli_output(&args).await;
            assert!(!out.status.success(), "spa-auth {args:?} succeeded");
        }
        assert_eq!(epoch(&app, "alice").await, e0);
        assert!(roles_of(&app, &token).await.is_empty());
    }
);
