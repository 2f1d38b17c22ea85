//! What nginx does that Caddy 2.6 cannot: relay the renewed session cookie of a successful
//! verify to the browser (deploy/README.md says why Caddy does not).

use std::time::Duration;

use reqwest::Method;
use spa_auth_tests::{StatusCode, db_test};

use crate::harness::{Kind, Stack};

db_test!(
    async fn a_request_that_slides_the_session_renews_the_browsers_cookie(db) {
        let s = Stack::start_with(Kind::Nginx, db, |args| {
            args.extend(["--session-refresh-interval", "1s"].map(String::from));
        })
        .await;
        let token = s.logged_in("alice").await;
        let first_deadline = s.app.session_for(&token).await.expect("session").expires_at;

        // Past the refresh interval: this request moves the idle deadline.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let resp = s.call(Method::GET, "/api/orders/1", Some(&token), &[]).await;

        assert_eq!(resp.status(), StatusCode::OK, "{}", s.proxy.logs());
        let renewed = s.via.session_set_cookie(&resp).expect("no renewed cookie");
        assert_eq!(renewed.value, token);
        assert!(renewed.has("HttpOnly"), "{}", renewed.raw);
        let deadline = s.app.session_for(&token).await.expect("session").expires_at;
        assert!(deadline > first_deadline, "the idle deadline did not move");
        assert_eq!(s.api.received().len(), 1);
    }
);
