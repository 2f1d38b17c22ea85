//! Behind a trusted proxy the client address is the last `X-Forwarded-For` entry of the last
//! line: the proxy's own. A client may send lines of its own (HAProxy then adds another
//! line), and none of them may choose the address that throttling and the session list use.

use spa_auth_tests::{Response, StatusCode, TestApp, assert_error, db_test, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

async fn proxied_app(db: spa_auth_tests::Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(["--trust-proxy", "true", "--throttle-per-pair", "3"].map(String::from));
    })
    .await
}

/// A login whose request carries these `X-Forwarded-For` lines, in order.
async fn login_via(app: &TestApp, lines: &[&str], password: &str) -> Response {
    // One header line each: `login_with` appends, it does not replace.
    let headers: Vec<_> = lines.iter().map(|l| ("x-forwarded-for", *l)).collect();
    app.login_with("alice", password, &headers).await
}

db_test!(
    async fn a_client_varying_its_own_forwarded_line_is_still_throttled(db) {
        let app = proxied_app(db).await;
        app.create_user("alice", PASSWORD).await;
        let proxy_saw = "203.0.113.5";

        for i in 0..3 {
            let claimed = format!("10.9.{i}.1, 10.8.{i}.2");
            let resp = login_via(&app, &[&claimed, proxy_saw], "wrong password!").await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let resp = login_via(&app, &["10.9.99.1", proxy_saw], "wrong password!").await;
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        // The same address with a port, as some proxies write it, is the same client.
        let resp = login_via(&app, &["10.9.98.1", "203.0.113.5:40000"], PASSWORD).await;
        assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    }
);

db_test!(
    async fn the_session_list_shows_the_address_the_proxy_appended(db) {
        let app = proxied_app(db).await;
        app.create_user("alice", PASSWORD).await;

        let cases = [
            (vec!["198.51.100.1", "203.0.113.7"], "203.0.113.7"),
            (vec!["198.51.100.1", "10.0.0.1, 203.0.113.8:51234"], "203.0.113.8"),
            (vec!["198.51.100.1", "[2001:db8::1]:443"], "2001:db8::1"),
            (vec!["198.51.100.1, 2001:db8::2"], "2001:db8::2"),
            (vec!["198.51.100.1", "2001:DB8::3,"], "2001:db8::3"),
        ];
        let mut token = String::new();
        for (lines, _) in &cases {
            let resp = login_via(&app, lines, PASSWORD).await;
            assert_eq!(resp.status(), StatusCode::OK, "{lines:?}");
            token = app.session_cookie(&resp).expect("no session cookie");
        }
        let resp = app
            .client
            .get(app.url("/api/auth/sessions"))
            .header("cookie", app.cookie_header(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let list: Vec<serde_json::Value> = resp.json().await.unwrap();
        let mut shown: Vec<&str> = list.iter().filter_map(|s| s["ip"].as_str()).collect();
        let mut expected: Vec<&str> = cases.iter().map(|(_, ip)| *ip).collect();
        shown.sort_unstable();
        expected.sort_unstable();
        assert_eq!(shown, expected);
    }
);
