//! Malformed `Authorization` headers on login: always a 4xx with a JSON `{code, message}`
//! body, never a 5xx, never a browser prompt, never a session.

use base64::{Engine, engine::general_purpose::STANDARD};
use spa_auth_tests::{StatusCode, TestApp, assert_error, db_test, error_body, header, spawn_app};

/// Sends `authorization` and checks the answer is a JSON 4xx; returns status and code.
async fn refused(app: &TestApp, authorization: &[u8]) -> (StatusCode, String) {
    let resp = app.login_raw(Some(authorization)).await;
    let status = resp.status();
    assert!(
        status.is_client_error(),
        "{} for Authorization {:?}",
        status,
        String::from_utf8_lossy(&authorization[..authorization.len().min(60)])
    );
    assert!(
        resp.headers().get(header::WWW_AUTHENTICATE).is_none(),
        "WWW-Authenticate on {status}"
    );
    assert!(
        resp.headers().get(header::SET_COOKIE).is_none(),
        "Set-Cookie on {status}"
    );
    let (_, code, _) = error_body(resp).await;
    (status, code)
}

fn basic(raw: &[u8]) -> Vec<u8> {
    let mut v = b"Basic ".to_vec();
    v.extend_from_slice(STANDARD.encode(raw).as_bytes());
    v
}

db_test!(
    async fn malformed_basic_credentials_are_a_json_400(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("another scheme", b"Bearer x".to_vec()),
            ("scheme only", b"Basic".to_vec()),
            ("no scheme", STANDARD.encode("alice:correct horse battery").into_bytes()),
            ("bad base64", b"Basic !!!not-base64!!!".to_vec()),
            ("truncated base64", b"Basic YWxpY2U6cGFzc3dvcm".to_vec()),
            ("no colon", basic(b"alice")),
            ("not UTF-8 after decoding", basic(b"\xff\xfe\xfd:\xc3\x28")),
            ("10 KiB password", basic(format!("alice:{}", "p".repeat(10 * 1024)).as_bytes())),
        ];
        for (what, value) in cases {
            let (status, code) = refused(&app, &value).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
            assert_eq!(code, "bad_request", "{what}");
        }
        assert!(app.sessions().await.is_empty());
    }
);

db_test!(
    async fn non_utf8_header_bytes_are_a_json_4xx(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        for value in [
            &b"Basic \xff\xfe\xfd"[..],
            &b"\xffBasic YWxpY2U6eA=="[..],
            &b"Basic YWxpY2U6eA==\xe9"[..],
        ] {
            let (status, code) = refused(&app, value).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{value:?}");
            assert_eq!(code, "bad_request");
        }
    }
);

db_test!(
    async fn a_64_kib_authorization_header_is_refused_as_json(db) {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        let huge = basic(format!("alice:{}", "p".repeat(48 * 1024)).as_bytes());
        assert!(huge.len() >= 64 * 1024);
        let (status, _code) = refused(&app, &huge).await;
        assert!(
            status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                || status == StatusCode::BAD_REQUEST,
            "{status}"
        );

        // The service is still fine afterwards.
        let resp = app.login("alice", "correct horse battery").await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
);

db_test!(
    async fn arbitrary_authorization_headers_never_cause_a_server_error(db) {
        use proptest::{
            strategy::{Strategy, ValueTree},
            test_runner::TestRunner,
        };
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;

        // Random header bytes, and random "Basic <base64 of random bytes>" values.
        let raw = proptest::collection::vec(proptest::num::u8::ANY, 0..200).prop_map(|mut v| {
            // Bytes a header value cannot hold at all are not the server's business.
            v.retain(|b| *b != b'\r' && *b != b'\n' && *b != 0 && *b != 0x7f);
            v
        });
        let decoded = proptest::collection::vec(proptest::num::u8::ANY, 0..200).prop_map(|v| basic(&v));
        let mut runner = TestRunner::deterministic();
        for _ in 0..60 {
            for value in [
                raw.new_tree(&mut runner).unwrap().current(),
                decoded.new_tree(&mut runner).unwrap().current(),
            ] {
                if header::HeaderValue::from_bytes(&value).is_err() {
                    continue;
                }
                let resp = app.login_raw(Some(&value)).await;
                let status = resp.status();
                assert!(status.is_client_error(), "{status} for {value:?}");
                assert!(resp.headers().get(header::WWW_AUTHENTICATE).is_none());
                error_body(resp).await;
            }
        }
    }
);

db_test!(
    async fn a_username_that_cannot_exist_is_an_unknown_user(db) {
        // Empty or longer than any username: well-formed Basic all the same, so the answer
        // and the work (one dummy password hash) are those of any unknown user.
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let long = "a".repeat(151);
        for username in ["", long.as_str()] {
            let hashes = spa_auth::telemetry::metrics::METRICS.password_hashes();
            let resp = app.login(username, "correct horse battery").await;
            assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
            let spent = spa_auth::telemetry::metrics::METRICS.password_hashes() - hashes;
            assert_eq!(spent, 1, "{} characters", username.len());
        }
    }
);
