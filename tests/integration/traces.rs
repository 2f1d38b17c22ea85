//! OpenTelemetry traces over OTLP/HTTP: with `SPA_AUTH_OTLP_ENDPOINT` set, a login sends a
//! request span that is the child of the caller's W3C `traceparent`, with a password-hashing
//! span and database spans inside it. The collector is a small OTLP/HTTP receiver started
//! here, which decodes what it is sent with the OpenTelemetry protobuf definitions.
//!
//! The subscriber is global to the process; nextest runs every test in a process of its own.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value, trace::v1::Span,
};
use poem::{EndpointExt, Server, handler, listener::TcpAcceptor, web::Data};
use prost::Message;
use spa_auth_tests::{Db, StatusCode, spawn_app};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

type Received = Arc<Mutex<Vec<Span>>>;

#[handler]
async fn receive(body: poem::Body, Data(received): Data<&Received>) -> StatusCode {
    let Ok(bytes) = body.into_bytes().await else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(request) = ExportTraceServiceRequest::decode(bytes) else {
        return StatusCode::BAD_REQUEST;
    };
    let spans = request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans);
    received.lock().unwrap().extend(spans);
    StatusCode::OK
}

/// An OTLP/HTTP receiver on a free port: its base URL and what it was sent.
async fn receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Received::default();
    let app = poem::Route::new()
        .at("/v1/traces", poem::post(receive))
        .data(received.clone());
    tokio::spawn(Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap()).run(app));
    (format!("http://{address}"), received)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn run(db: Db) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (endpoint, received) = rt.block_on(receiver());
    // SAFETY: set before the subscriber and the app start their threads; the runtime's
    // workers read no environment.
    unsafe {
        std::env::set_var("SPA_AUTH_OTLP_ENDPOINT", &endpoint);
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    }
    spa_auth::telemetry::init(spa_auth::telemetry::LogFormat::Json, std::io::sink, false);
    let spans = rt.block_on(async {
        let app = spawn_app(db).await;
        app.create_user("alice", "correct horse battery").await;
        let resp = app
            .login_with(
                "alice",
                "correct horse battery",
                &[
                    ("traceparent", &format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01")),
                    ("x-request-id", "traced-login"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = received.lock().unwrap().clone();
            let login = spans.iter().find(|s| {
                s.name == "request" && attribute(s, "request_id").as_deref() == Some("traced-login")
            });
            let hashed = login.is_some_and(|login| {
                spans
                    .iter()
                    .any(|s| s.name == "password_hash" && s.parent_span_id == login.span_id)
            });
            if hashed || Instant::now() > deadline {
                break spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let names: Vec<_> = spans.iter().map(|s| s.name.clone()).collect();
    let login = spans
        .iter()
        .find(|s| {
            s.name == "request" && attribute(s, "request_id").as_deref() == Some("traced-login")
        })
        .unwrap_or_else(|| panic!("no span for the login request among {names:?}"));
    assert_eq!(hex(&login.trace_id), TRACE_ID, "not in the caller's trace");
    assert_eq!(
        hex(&login.parent_span_id),
        CALLER_SPAN_ID,
        "not the caller's child"
    );
    assert_eq!(
        attribute(login, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attribute(login, "http.route").as_deref(),
        Some("/api/auth/login")
    );
    assert_eq!(
        attribute(login, "http.response.status_code").as_deref(),
        Some("200")
    );
    let children: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == login.trace_id)
        .collect();
    let hash = children
        .iter()
        .find(|s| s.name == "password_hash")
        .unwrap_or_else(|| panic!("no hashing span among {names:?}"));
    assert_eq!(
        hash.parent_span_id, login.span_id,
        "the hash is not the request's child"
    );
    assert!(hash.end_time_unix_nano > hash.start_time_unix_nano);
    let statements = children.iter().filter(|s| s.name.ends_with("_raw")).count();
    assert!(
        statements >= 1,
        "no database span under the login among {names:?}"
    );
    // The secrets stay out of traces as they stay out of logs.
    for span in &spans {
        let text = format!("{span:?}");
        assert!(
            !text.contains("correct horse battery"),
            "the password in a span: {text}"
        );
    }
}

mod a_login_is_traced_under_the_callers_span {
    #[test]
    fn sqlite() {
        super::run(spa_auth_tests::Db::Sqlite)
    }

    #[test]
    fn postgres() {
        super::run(spa_auth_tests::Db::Postgres)
    }
}

spa_auth_tests::db_test!(
    async fn the_spa_auth_binary_sends_its_last_spans_when_it_stops(db) {
        let (endpoint, received) = receiver().await;
        let test_db = spa_auth_tests::TestDb::create(db).await;
        let mut child = spa_auth_tests::command()
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &test_db.url])
            .env("SPA_AUTH_OTLP_ENDPOINT", &endpoint)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cannot start spa-auth");
        let port = spa_auth_tests::announced_port(&mut child).await;
        let resp = spa_auth_tests::client(Duration::from_secs(10))
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // Stopped well before the SDK's 5 s batch delay: the span arrives because the server
        // flushes at shutdown.
        let term = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "{status}");
        let spans = received.lock().unwrap().clone();
        let names: Vec<_> = spans.iter().map(|s| s.name.clone()).collect();
        let probe = spans
            .iter()
            .find(|s| s.name == "request" && hex(&s.trace_id) == TRACE_ID)
            .unwrap_or_else(|| panic!("no request span in the caller's trace among {names:?}"));
        assert_eq!(hex(&probe.parent_span_id), CALLER_SPAN_ID);
        assert_eq!(attribute(probe, "http.route").as_deref(), Some("/healthz"));
    }
);
