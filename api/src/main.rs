use clap::Parser;
use spa_auth::cli::{Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spa-auth: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
