//! The ceiling of `tests/bench/run.sh`: the same poem as spa-auth's, with no middleware, on
//! the same kind of runtime, answering `GET /healthz` with what spa-auth's answers. spa-auth's
//! own throughput is reported as a share of this one's, measured in the same rounds.
//!
//!     bench-ceiling 127.0.0.1:0   # prints "listening on http://localhost:PORT" on stderr

use poem::{
    IntoResponse, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
};

#[handler]
fn healthz() -> impl IntoResponse {
    // The bytes spa-auth's /healthz sends, without building them through serde.
    r#"{"status":"ok"}"#.with_content_type("application/json; charset=utf-8")
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let acceptor = TcpListener::bind(bind).into_acceptor().await?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .unwrap_or(0);
    eprintln!("listening on http://localhost:{port}");
    Server::new_with_acceptor(acceptor)
        .run(Route::new().at("/healthz", get(healthz)))
        .await
}
