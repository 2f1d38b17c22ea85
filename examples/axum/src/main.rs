//! `cargo run -p spa-auth-example-axum`: `GET http://127.0.0.1:3001/api/whoami`, on the
//! database of a `spa-auth serve` (`DATABASE_URL`, default `sqlite://spa-auth.db?mode=rwc`)
//! that users log in to, behind the same origin.

use spa_auth::{SpaAuth, SpaAuthSettings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://spa-auth.db?mode=rwc".into());
    let db = sea_orm::Database::connect(url).await?;
    let spa = SpaAuth::new(db, SpaAuthSettings::default()).await?;
    let background = tokio::spawn(spa.background());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    let served = axum::serve(listener, axum_example::app(spa))
        .with_graceful_shutdown(spa_auth::server::shutdown_signal())
        .await;
    background.abort();
    Ok(served?)
}
