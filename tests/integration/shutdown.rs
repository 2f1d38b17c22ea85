//! Graceful shutdown: requests in flight finish, new connections are refused.

use std::time::{Duration, Instant};

use spa_auth_tests::{StatusCode, TestApp, db_test, spawn_app_with};

db_test!(
    async fn a_login_in_flight_completes_during_graceful_shutdown(db) {
        // Expensive hashing makes a login take long enough to be caught in flight.
        let mut app = spawn_app_with(db, |args| {
            args.extend(["--argon2-iterations".into(), "40".into()]);
        })
        .await;
        // A cheap stored hash: creating the user is quick, the login verifies it and then
        // rehashes with the expensive configured parameters.
        let cheap = TestApp::passwords_with(8192, 1, 1)
            .hash(&spa_auth::passwords::Password::new("correct horse battery"))
            .await
            .unwrap();
        app.create_user_with_hash("alice", Some(cheap)).await;

        let client = app.client.clone();
        let url = app.url("/api/auth/login");
        let in_flight = tokio::spawn(async move {
            let resp = client
                .post(url)
                .basic_auth("alice", Some("correct horse battery"))
                .send()
                .await;
            (resp, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!in_flight.is_finished(), "the login finished too fast to test anything");
        let triggered = Instant::now();
        app.trigger_shutdown();

        let (resp, finished) = in_flight.await.unwrap();
        let resp = resp.expect("the in-flight login was cut off by shutdown");
        assert!(finished > triggered, "the login was not in flight at shutdown");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(app.session_cookie(&resp).is_some());
        let body: serde_json::Value = resp.json().await.expect("body cut off");
        assert_eq!(body["username"], "alice");

        app.wait_stopped(Duration::from_secs(10))
            .await
            .expect("server error on shutdown");
        // Stopped: nothing listens any more.
        let after = app
            .client
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        assert!(after.is_err(), "the server still answers after shutdown: {after:?}");
    }
);
