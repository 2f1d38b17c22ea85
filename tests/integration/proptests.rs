//! Property tests: arbitrary `Authorization` and `Cookie` headers over real HTTP always get a
//! JSON 400/401 and never hurt the server; `parse_basic` accepts exactly well-formed
//! credentials and never panics.

use base64::{Engine, engine::general_purpose::STANDARD};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use spa_auth::http::extractors::parse_basic;
use spa_auth_tests::{Response, StatusCode, TestApp, db_test, header, header_str, spawn_app_with};

const CASES: u32 = 64;

/// Arbitrary header bytes, some shaped like Basic credentials so the parser's later steps
/// are reached too.
/// Bytes a header value may hold (visible ASCII, space, tab, obs-text), so that few cases
/// are skipped as unsendable.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff]
}

fn authorization_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..200),
        vec(header_byte(), 0..200),
        vec(header_byte(), 0..120).prop_map(|raw| {
            let mut v = b"Basic ".to_vec();
            v.extend_from_slice(&raw);
            v
        }),
        vec(any::<u8>(), 0..300)
            .prop_map(|raw| format!("Basic {}", STANDARD.encode(raw)).into_bytes()),
        ("[a-zA-Z]{0,8}", "\\PC{0,40}").prop_map(|(scheme, rest)| {
            format!("{scheme} {}", STANDARD.encode(rest)).into_bytes()
        }),
    ]
}

fn cookie_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(header_byte(), 0..200),
        vec(header_byte(), 0..80).prop_map(|raw| {
            let mut v = b"__Host-session=".to_vec();
            v.extend_from_slice(&raw);
            v
        }),
        "[A-Za-z0-9_=;, -]{0,60}".prop_map(|s| format!("__Host-session={s}").into_bytes()),
        "[A-Za-z0-9_-]{43}".prop_map(|t| format!("a=b; __Host-session={t}; c=d").into_bytes()),
    ]
}

/// A JSON 400 or 401, without a cookie being set or a browser prompt.
async fn check_refusal(resp: Response, what: &str) -> Result<(), String> {
    let status = resp.status();
    if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
        return Err(format!("{what}: status {status}"));
    }
    if resp.headers().get(header::WWW_AUTHENTICATE).is_some() {
        return Err(format!("{what}: WWW-Authenticate"));
    }
    let sets_session = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| !v.starts_with("__Host-session=;")));
    if sets_session {
        return Err(format!("{what}: sets a session cookie"));
    }
    let ct = header_str(&resp, header::CONTENT_TYPE.as_str())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !ct.starts_with("application/json") {
        return Err(format!("{what}: {status} with Content-Type {ct:?}: {text}"));
    }
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{what}: not JSON ({e}): {text}"))?;
    if !json["code"].is_string() || !json["message"].is_string() {
        return Err(format!("{what}: not an Error body: {text}"));
    }
    Ok(())
}

/// Runs `case` for arbitrary values from `strategy` on the current runtime.
fn run_http<S: Strategy>(strategy: S, case: impl Fn(S::Value) -> Result<(), String>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |value| case(value).map_err(TestCaseError::fail))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The app with limits that random guesses cannot reach, and cheap hashing.
async fn fuzz_app(db: spa_auth_tests::Db) -> TestApp {
    spawn_app_with(db, |args| {
        args.extend(spa_auth_tests::NO_THROTTLE.map(String::from));
        args.extend(["--argon2-memory-kib", "1024", "--argon2-iterations", "1"].map(String::from));
    })
    .await
}

db_test!(
    async fn arbitrary_authorization_headers_get_a_json_4xx(db) {
        let app = fuzz_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let handle = tokio::runtime::Handle::current();

        run_http(authorization_bytes(), |bytes| {
            let Ok(value) = header::HeaderValue::from_bytes(&bytes) else {
                return Ok(());
            };
            handle.block_on(async {
                let resp = app
                    .client
                    .post(app.url("/api/auth/login"))
                    .header(header::AUTHORIZATION, value)
                    .send()
                    .await
                    .map_err(|e| format!("request failed: {e}"))?;
                check_refusal(resp, &format!("Authorization {bytes:?}")).await
            })
        });
        assert!(app.sessions().await.is_empty());
        assert_eq!(app.healthz().await.status(), StatusCode::OK);
        app.login_ok("alice", "correct horse battery").await;
    }
);

db_test!(
    async fn arbitrary_cookie_headers_get_a_json_401(db) {
        let app = fuzz_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let real = app.login_ok("alice", "correct horse battery").await;
        let handle = tokio::runtime::Handle::current();

        run_http(cookie_bytes(), |bytes| {
            let Ok(value) = header::HeaderValue::from_bytes(&bytes) else {
                return Ok(());
            };
            handle.block_on(async {
                for (method, path) in [
                    (reqwest::Method::GET, "/api/me"),
                    (reqwest::Method::GET, "/api/auth/sessions"),
                    (reqwest::Method::POST, "/api/auth/logout"),
                ] {
                    let resp = app
                        .client
                        .request(method.clone(), app.url(path))
                        .header(header::COOKIE, value.clone())
                        .send()
                        .await
                        .map_err(|e| format!("request failed: {e}"))?;
                    if resp.status() != StatusCode::UNAUTHORIZED {
                        return Err(format!("{method} {path} with Cookie {bytes:?}: {}", resp.status()));
                    }
                    check_refusal(resp, &format!("{method} {path} with Cookie {bytes:?}")).await?;
                }
                // A login carrying junk cookies is still just a login attempt.
                let resp = app
                    .client
                    .post(app.url("/api/auth/login"))
                    .basic_auth("alice", Some("wrong password"))
                    .header(header::COOKIE, value.clone())
                    .send()
                    .await
                    .map_err(|e| format!("request failed: {e}"))?;
                check_refusal(resp, &format!("login with Cookie {bytes:?}")).await
            })
        });
        assert_eq!(app.healthz().await.status(), StatusCode::OK);
        assert_eq!(app.me(Some(&real)).await.status(), StatusCode::OK);
        assert_eq!(app.sessions().await.len(), 1);
    }
);

/// What `parse_basic` should accept, decided from the decoded text. Any username is
/// well-formed (an empty or overlong one is an unknown user, answered 401 by login).
fn well_formed(decoded: &str) -> Option<(&str, &str)> {
    let (user, pass) = decoded.split_once(':')?;
    (pass.chars().count() <= 1024).then_some((user, pass))
}

fn basic_header(decoded: &str) -> header::HeaderValue {
    header::HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(decoded))).unwrap()
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    #[test]
    fn parse_basic_never_panics(bytes in vec(any::<u8>(), 0..400)) {
        if let Ok(value) = header::HeaderValue::from_bytes(&bytes) {
            let _ = parse_basic(Some(&value));
        }
    }

    #[test]
    fn parse_basic_round_trips_valid_credentials(
        username in "[^:]{0,200}",
        password in "\\PC{0,1024}",
        scheme in prop_oneof![Just("Basic"), Just("basic"), Just("BASIC"), Just("bAsIc")],
    ) {
        let encoded = STANDARD.encode(format!("{username}:{password}"));
        let value = header::HeaderValue::from_str(&format!("{scheme} {encoded}")).unwrap();
        let parsed = parse_basic(Some(&value));
        prop_assert!(parsed.is_ok(), "{parsed:?}");
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed.username, &username);
        prop_assert_eq!(parsed.password.expose(), password.as_str());
    }

    #[test]
    fn parse_basic_accepts_exactly_well_formed_credentials(
        decoded in prop_oneof![
            "\\PC{0,40}",
            "[a-z:]{0,10}",
            (0usize..200, 0usize..1100).prop_map(|(u, p)| format!("{}:{}", "u".repeat(u), "p".repeat(p))),
            ("[^:]{140,160}", "\\PC{1020,1030}").prop_map(|(u, p)| format!("{u}:{p}")),
        ],
    ) {
        let parsed = parse_basic(Some(&basic_header(&decoded)));
        match well_formed(&decoded) {
            Some((user, pass)) => {
                prop_assert!(parsed.is_ok(), "{decoded:?} refused: {parsed:?}");
                let parsed = parsed.unwrap();
                prop_assert_eq!(parsed.username.as_str(), user);
                prop_assert_eq!(parsed.password.expose(), pass);
            }
            None => {
                let refused = matches!(parsed, Err(spa_auth::http::errors::ApiError::BadRequest(_)));
                prop_assert!(refused, "{decoded:?} accepted or not a 400: {parsed:?}");
            }
        }
    }

    #[test]
    fn parse_basic_refuses_non_utf8_and_bad_base64(raw in vec(any::<u8>(), 1..100)) {
        let value = header::HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(&raw))).unwrap();
        let parsed = parse_basic(Some(&value));
        match std::str::from_utf8(&raw).ok().and_then(well_formed) {
            Some(_) => prop_assert!(parsed.is_ok()),
            None => prop_assert!(matches!(parsed, Err(spa_auth::http::errors::ApiError::BadRequest(_)))),
        }
    }
}

#[test]
fn parse_basic_without_a_header_is_not_authenticated() {
    assert!(matches!(
        parse_basic(None),
        Err(spa_auth::http::errors::ApiError::NotAuthenticated)
    ));
}
