//! Account changes as users notice them: deactivation, password change, hash upgrades.

use spa_auth::{
    passwords::Password,
    users::{set_active, set_password_hash},
};
use spa_auth_tests::{StatusCode, TestApp, assert_error, db_test, spawn_app};

db_test!(
    async fn deactivation_ends_sessions_at_once_and_blocks_login(db) {
        let app = spawn_app(db).await;
        let alice = app.create_user("alice", "correct horse battery").await;
        app.create_user("bob", "another fine password").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let bobs = app.login_ok("bob", "another fine password").await;
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);

        // What `spa-auth user deactivate` does: change the database, then return once every
        // running instance has seen it.
        set_active(&app.db, alice, false).await.unwrap();
        app.settle().await;

        // The very next request after the command returned.
        assert_error(app.me(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        let resp = app.login("alice", "correct horse battery").await;
        assert!(app.session_cookie(&resp).is_none());
        assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        // Other users are not affected.
        assert_eq!(app.me(Some(&bobs)).await.status(), StatusCode::OK);

        // Reactivated, alice logs in again, but the old cookie stays dead.
        let alice = app.user("alice").await;
        set_active(&app.db, alice, true).await.unwrap();
        assert_error(app.me(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        app.login_ok("alice", "correct horse battery").await;
    }
);

db_test!(
    async fn a_password_change_ends_every_session(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let laptop = app.login_ok("alice", "correct horse battery").await;
        let phone = app.login_ok("alice", "correct horse battery").await;
        // Both in use right before the change.
        assert_eq!(app.me(Some(&laptop)).await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&phone)).await.status(), StatusCode::OK);

        let new_hash = app
            .state
            .passwords
            .hash(&Password::new("a brand new secret"))
            .await
            .unwrap();
        // What `spa-auth user set-password` does (see `TestApp::settle`).
        set_password_hash(&app.db, app.user("alice").await, new_hash, false)
            .await
            .unwrap();
        app.settle().await;

        for token in [&laptop, &phone] {
            assert_error(app.me(Some(token)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
                .await;
        }
        assert!(app.sessions().await.is_empty());
        assert_error(
            app.login("alice", "correct horse battery").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        let fresh = app.login_ok("alice", "a brand new secret").await;
        assert_eq!(app.me(Some(&fresh)).await.status(), StatusCode::OK);
    }
);

db_test!(
    async fn a_weak_stored_hash_is_upgraded_on_login(db) {
        let app = spawn_app(db).await;
        let weak = TestApp::passwords_with(8192, 1, 1)
            .hash(&Password::new("correct horse battery"))
            .await
            .unwrap();
        assert!(weak.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{weak}");
        app.create_user_with_hash("alice", Some(weak.clone())).await;

        // A wrong password does not touch the stored hash.
        assert_error(
            app.login("alice", "wrong horse battery").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        assert_eq!(app.user("alice").await.password_hash.as_deref(), Some(weak.as_str()));

        let token = app.login_ok("alice", "correct horse battery").await;

        let stored = app.user("alice").await.password_hash.expect("hash gone");
        assert_ne!(stored, weak);
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "the hash was not upgraded to the configured parameters: {stored}"
        );
        // Upgrading the hash does not end the session it was made in, and the password still works.
        assert_eq!(app.me(Some(&token)).await.status(), StatusCode::OK);
        app.login_ok("alice", "correct horse battery").await;
        assert_eq!(
            app.user("alice").await.password_hash.as_deref(),
            Some(stored.as_str()),
            "a current hash is rehashed again on every login"
        );
    }
);
