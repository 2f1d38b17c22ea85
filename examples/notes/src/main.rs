//! `cargo run -p spa-auth-example-notes`: the notes API on http://127.0.0.1:3000, its users
//! in `notes.db` (or `DATABASE_URL`). Create one with
//! `spa-auth user create alice --email alice@example.com --database-url sqlite://notes.db?mode=rwc`
//! (the password is read from standard input).

use poem::{Server, listener::TcpListener};
use spa_auth::{SpaAuth, SpaAuthSettings};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://notes.db?mode=rwc".into());
    let db = sea_orm::Database::connect(url).await?;
    let spa = SpaAuth::new(db, SpaAuthSettings::default()).await?;
    let background = tokio::spawn(spa.background());
    let served = Server::new(TcpListener::bind("127.0.0.1:3000"))
        .run_with_graceful_shutdown(notes::app(&spa), spa_auth::server::shutdown_signal(), None)
        .await;
    background.abort();
    Ok(served?)
}
