//! The axum example against a real `spa-auth` on the same database, on SQLite and PostgreSQL:
//! users log in to spa-auth, and the axum route sees them, and sees them go, on the next
//! request.

use reqwest::Method;
use serde_json::Value;
use spa_auth::SpaAuth;
use spa_auth_tests::{StatusCode, TestApp, assert_error, db_test, host_settings, spawn_app};
use tokio::task::JoinHandle;

const PASSWORD: &str = "correct horse battery";

/// The axum service on a free port, on the database of `spa`, stopped when dropped.
struct Axum {
    address: String,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Axum {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

async fn axum_beside(spa: &TestApp) -> Axum {
    let db = sea_orm::Database::connect(&spa.test_db.url).await.unwrap();
    let lib = SpaAuth::new(db, host_settings()).await.unwrap();
    let background = tokio::spawn(lib.background());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, axum_example::app(lib)).await;
    });
    Axum {
        address,
        tasks: [background, server],
    }
}

async fn whoami(spa: &TestApp, axum: &Axum, token: Option<&str>) -> reqwest::Response {
    let mut req = spa
        .client
        .request(Method::GET, format!("{}/api/whoami", axum.address));
    if let Some(t) = token {
        req = req.header("cookie", spa.cookie_header(t));
    }
    req.send().await.expect("GET /api/whoami")
}

/// Alice, logged in to spa-auth and seen by the axum service a few times (so its cache holds
/// her session); her session token.
async fn alice_seen(spa: &TestApp, axum: &Axum) -> String {
    spa.create_user("alice", PASSWORD).await;
    let token = spa.login_ok("alice", PASSWORD).await;
    for _ in 0..3 {
        let resp = whoami(spa, axum, Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    token
}

db_test!(
    async fn a_request_with_a_live_session_gets_200_with_its_user(db) {
        let spa = spawn_app(db).await;
        let axum = axum_beside(&spa).await;
        let token = alice_seen(&spa, &axum).await;

        let resp = whoami(&spa, &axum, Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["username"], "alice");
    }
);

db_test!(
    async fn an_anonymous_request_gets_401_json(db) {
        let spa = spawn_app(db).await;
        let axum = axum_beside(&spa).await;
        let resp = whoami(&spa, &axum, None).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn after_logout_the_next_request_is_401(db) {
        let spa = spawn_app(db).await;
        let axum = axum_beside(&spa).await;
        let token = alice_seen(&spa, &axum).await;

        assert_eq!(spa.logout(Some(&token)).await.status(), StatusCode::NO_CONTENT);
        // The logout happened in another process (spa-auth's), whose change reaches this one
        // as it reaches any other instance: within two polls of the cache watcher.
        spa.settle().await;

        let resp = whoami(&spa, &axum, Some(&token)).await;
        let cleared = spa.session_set_cookie(&resp).is_some_and(|c| c.value.is_empty());
        assert!(cleared, "the dead cookie is not cleared");
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn after_the_cli_ended_the_sessions_the_next_request_is_401(db) {
        let spa = spawn_app(db).await;
        let axum = axum_beside(&spa).await;
        let token = alice_seen(&spa, &axum).await;

        spa.cli(&["sessions", "revoke", "alice"]).await;

        let resp = whoami(&spa, &axum, Some(&token)).await;
        assert_error(resp, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    }
);

db_test!(
    async fn a_cross_site_post_is_refused_with_csrf_rejected(db) {
        let spa = spawn_app(db).await;
        let axum = axum_beside(&spa).await;
        let token = alice_seen(&spa, &axum).await;
        let post = |headers: &'static [(&'static str, &'static str)]| {
            let mut req = spa.client.post(format!("{}/api/whoami", axum.address));
            req = req.header("cookie", spa.cookie_header(&token));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send()
        };
        let cross_site = &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];
        let resp = post(cross_site).await.unwrap();
        assert_error(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
        let resp = post(&[("sec-fetch-site", "same-origin")]).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
);
