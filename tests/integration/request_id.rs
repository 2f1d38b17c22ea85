//! `X-Request-Id`: a client's (or its proxy's) id is kept when it is short visible ASCII, so
//! one id follows a request through every service's logs; anything else is replaced by a
//! random UUID, as is a missing one.

use spa_auth_tests::{StatusCode, TestApp, db_test, spawn_app};

async fn answered_id(app: &TestApp, path: &str, sent: Option<&[u8]>) -> (StatusCode, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(sent) = sent {
        let value = reqwest::header::HeaderValue::from_bytes(sent).expect("a sendable value");
        req = req.header("x-request-id", value);
    }
    let resp = req.send().await.unwrap();
    let ids: Vec<_> = resp.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "one X-Request-Id: {ids:?}");
    let id = ids[0].to_str().expect("an ASCII id").to_owned();
    (resp.status(), id)
}

fn is_uuid_v4(id: &str) -> bool {
    uuid::Uuid::parse_str(id)
        .is_ok_and(|u| u.get_version_num() == 4 && u.hyphenated().to_string() == id)
}

db_test!(
    async fn an_incoming_request_id_is_kept(db) {
        let app = spawn_app(db).await;
        let longest = "x".repeat(64);
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for sent in ["req-7f3a", "a", "Abc/123:_~!#$%&'*+.^|", traceparent, &longest] {
            for (path, status) in [
                ("/healthz", StatusCode::OK),
                ("/api/me", StatusCode::UNAUTHORIZED),
                ("/api/nowhere", StatusCode::NOT_FOUND),
            ] {
                let (got_status, id) = answered_id(&app, path, Some(sent.as_bytes())).await;
                assert_eq!(got_status, status, "{path}");
                assert_eq!(id, sent, "{path}");
            }
        }
    }
);

db_test!(
    async fn an_unusable_request_id_is_replaced_by_a_fresh_one(db) {
        let app = spawn_app(db).await;
        let too_long = "x".repeat(65);
        let unusable: [&[u8]; 6] = [
            b"",
            too_long.as_bytes(),
            b"two words",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            b"obs\xfftext",
        ];
        let mut seen = std::collections::HashSet::new();
        for sent in unusable {
            let (status, id) = answered_id(&app, "/healthz", Some(sent)).await;
            assert_eq!(status, StatusCode::OK);
            assert!(is_uuid_v4(&id), "{id:?} for {sent:?}");
            assert!(seen.insert(id), "an id answered twice");
        }
        for _ in 0..3 {
            let (_, id) = answered_id(&app, "/healthz", None).await;
            assert!(is_uuid_v4(&id), "{id:?}");
            assert!(seen.insert(id), "an id answered twice");
        }
    }
);
