//! `POST /api/auth/logout`.

use spa_auth_tests::{StatusCode, assert_error, db_test, spawn_app};

db_test!(
    async fn logout_ends_the_session_and_clears_the_cookie(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        let other_device = app.login_ok("alice", "correct horse battery").await;
        assert!(app.session_for(&token).await.is_some());

        let resp = app.logout(Some(&token)).await;

        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let clearing = app.session_set_cookie(&resp).expect("no clearing Set-Cookie");
        assert_eq!(clearing.name, "__Host-session");
        assert_eq!(clearing.value, "", "{}", clearing.raw);
        assert_eq!(clearing.max_age(), Some(0), "{}", clearing.raw);
        assert_eq!(clearing.attr("Path"), Some("/"), "{}", clearing.raw);
        assert!(clearing.has("Secure"), "{}", clearing.raw);
        assert!(clearing.has("HttpOnly"), "{}", clearing.raw);
        assert!(!clearing.has("Domain"), "{}", clearing.raw);
        assert!(resp.bytes().await.unwrap().is_empty(), "204 with a body");

        assert!(app.session_for(&token).await.is_none(), "the session row is still there");
        // A copy of the cookie is dead too.
        assert_error(app.me(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        assert_error(app.logout(Some(&token)).await, StatusCode::UNAUTHORIZED, "not_authenticated")
            .await;
        // Only this session ended.
        assert_eq!(app.me(Some(&other_device)).await.status(), StatusCode::OK);
        assert_eq!(app.sessions().await.len(), 1);
    }
);

db_test!(
    async fn logout_without_a_cookie_is_401_json(db) {
        let app = spawn_app(db).await;

        let resp = app.logout(None).await;

        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn logging_in_again_after_logout_works(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let token = app.login_ok("alice", "correct horse battery").await;
        assert_eq!(app.logout(Some(&token)).await.status(), StatusCode::NO_CONTENT);

        let again = app.login_ok("alice", "correct horse battery").await;

        assert_ne!(again, token);
        assert_eq!(app.me(Some(&again)).await.status(), StatusCode::OK);
    }
);
