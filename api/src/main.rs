use spa_auth::cli::{ConfigError, parse, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match parse(std::env::args_os()) {
        Ok(cli) => cli,
        // Usage errors, `--help` and `--version`, printed and exited as clap does.
        Err(ConfigError::Clap(e)) => e.exit(),
        Err(e) => {
            eprintln!("spa-auth: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spa-auth: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
