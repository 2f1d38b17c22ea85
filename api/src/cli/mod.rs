//! The `spa-auth` command line.

pub mod config;
pub mod django_import;
mod user;

pub use config::{ConfigError, Effective, parse};

pub use user::{DEMO_PASSWORD, DEMO_USERNAME, UserCommand};
use user::{create_demo_user, user};

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::{
    database::DatabaseSettings,
    server::ServeSettings,
    server::{self, Application},
    sessions::{Reason, Which, end_sessions, purge_expired, registry::settle_everywhere},
    telemetry::{self, LogFormat},
    users,
};

#[derive(Parser, Debug)]
#[command(
    name = "spa-auth",
    version,
    about = "Server-side session authentication for single-page apps"
)]
pub struct Cli {
    /// A TOML file of settings, beneath flags and environment variables: its keys are the
    /// long flags of `spa-auth serve` (`database-url = "postgres://..."`).
    #[arg(long, env = "SPA_AUTH_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate the database, then serve the API.
    Serve(Box<ServeSettings>),
    /// Apply database migrations and exit.
    Migrate(DatabaseSettings),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Print the OpenAPI spec as JSON.
    Openapi,
    /// The settings `serve` would run with.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Import users from another system.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Invite people to sign up (`SPA_AUTH_SIGNUP=invite`).
    #[command(subcommand)]
    Invite(InviteCommand),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print every setting `serve` would run with (secrets redacted) and where it came from
    /// (flag, environment, file, default), then check them as `serve` does at start; exits
    /// non-zero when `serve` would refuse them. Takes the same flags as `serve`.
    Check(Box<CheckArgs>),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub settings: ServeSettings,
    /// Filled in by [`parse`]: what each setting is and where it came from.
    #[arg(skip)]
    pub effective: Vec<Effective>,
    /// Filled in by [`parse`]: the settings file read, if any.
    #[arg(skip)]
    pub file: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum InviteCommand {
    /// Mail EMAIL a single-use link to sign up with that address. The running server sends
    /// it (it needs `SPA_AUTH_SMTP_URL` and `SPA_AUTH_PUBLIC_URL`); a newer invitation to the
    /// same address replaces the older one.
    Create {
        email: String,
        /// A role the new account gets (repeat for several).
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        db: DatabaseSettings,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Import Django's users (auth_user, with groups as roles) and keep their password
    /// hashes: each is replaced by spa-auth's argon2id at the user's first login. Run it
    /// again to bring over later changes; users are matched on their username, ignoring case.
    Django {
        /// The Django database: `sqlite://path/to/db.sqlite3` (opened read-only) or
        /// `postgres://user@host/db`.
        #[arg(
            long = "from",
            env = "DJANGO_DATABASE_URL",
            value_name = "DATABASE_URL"
        )]
        from: String,
        /// Print what would change and write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DatabaseSettings,
    },
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Delete expired sessions.
    Purge {
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// List a user's live sessions, newest first: id, created, last seen, expires, ip,
    /// remembered, user agent (tab-separated).
    List {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// End every session of a user now, for a compromised account.
    Revoke {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] server::StartupError),
    #[error(transparent)]
    User(#[from] users::UserError),
    #[error("{0}")]
    Password(#[from] crate::passwords::PasswordRejected),
    #[error("password hashing failed: {0}")]
    Hash(#[from] crate::passwords::PasswordError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("reading the password from standard input: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] crate::passwords::SettingsError),
    #[error("role {0:?} is not valid: 1 to 64 letters, digits and _ - . : only")]
    InvalidRole(String),
    #[error("import: {0}")]
    Import(#[from] crate::cli::django_import::ImportError),
    #[error("{0:?} is not an address mail can be sent to")]
    InvalidEmail(String),
    #[error("the two passwords differ")]
    PasswordsDiffer,
    #[error("{0} not deleted: confirm with --yes")]
    NotConfirmed(String),
    #[error("serve would refuse these settings: {0}")]
    Settings(#[from] server::SettingsError),
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(settings) => serve(*settings).await,
        Command::Migrate(db) => {
            crate::database::migrate(&open(&db).await?).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::User(cmd) => user(cmd).await,
        Command::Sessions(SessionsCommand::Purge { db }) => {
            let n = purge_expired(&open(&db).await?).await?;
            println!("removed {n} expired sessions");
            Ok(())
        }
        Command::Sessions(SessionsCommand::List { username, db }) => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            for s in crate::sessions::list_for_user(&db, user.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    s.id,
                    s.created_at.to_rfc3339(),
                    s.last_seen_at.to_rfc3339(),
                    s.expires_at.to_rfc3339(),
                    s.ip.as_deref().unwrap_or("-"),
                    if s.persistent {
                        "remembered"
                    } else {
                        "browser"
                    },
                    s.user_agent.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
        Command::Sessions(SessionsCommand::Revoke { username, db }) => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let n = end_sessions(&db, user.id, Which::All, Reason::Revoked).await?;
            // Returns once every running instance has dropped the sessions from its cache.
            settle_everywhere(&db, user.id).await;
            println!("ended {n} sessions of {username}");
            Ok(())
        }
        Command::Config(ConfigCommand::Check(check)) => config_check(&check),
        Command::Openapi => {
            print!("{}", crate::http::app::openapi_json());
            Ok(())
        }
        Command::Import(ImportCommand::Django { from, dry_run, db }) => {
            import_django(&from, dry_run, &db).await
        }
        Command::Invite(InviteCommand::Create { email, roles, db }) => {
            invite(&email, roles, &db).await
        }
    }
}

fn config_check(check: &CheckArgs) -> Result<(), CliError> {
    match &check.file {
        Some(file) => println!("# settings file: {}", file.display()),
        None => println!("# no settings file (--config / SPA_AUTH_CONFIG)"),
    }
    for e in &check.effective {
        match &e.value {
            Some(v) => println!("{} = {v:?}  # {}", e.key, e.source),
            None => println!("# {} is not set", e.key),
        }
    }
    check.settings.validate()?;
    eprintln!("settings are valid");
    Ok(())
}

async fn invite(email: &str, roles: Vec<String>, db: &DatabaseSettings) -> Result<(), CliError> {
    let email = email.trim();
    if !crate::accounts::valid_email(email) {
        return Err(CliError::InvalidEmail(email.to_owned()));
    }
    if let Some(bad) = roles.iter().find(|r| !users::valid_role(r)) {
        return Err(CliError::InvalidRole(bad.clone()));
    }
    let db = open(db).await?;
    // The token is made when the server delivers the mail: none is ever stored in the clear.
    let params = serde_json::json!({ "roles": roles });
    crate::mail::outbox::enqueue(&db, crate::mail::MailKind::Invite, email, params).await?;
    tracing::info!(target: "audit", event = "invitation_queued", roles = ?roles);
    println!("invitation to {email} queued: the server mails it");
    Ok(())
}

async fn import_django(from: &str, dry_run: bool, db: &DatabaseSettings) -> Result<(), CliError> {
    use crate::cli::django_import::{self, ImportError};
    let django = django_import::connect_django(from).await?;
    let users = django_import::read_django_users(&django).await?;
    django.close().await?;
    // A dry run must write nothing, so it does not migrate either.
    let db = match dry_run {
        true => server::connect(db).await?,
        false => open(db).await?,
    };
    let report = django_import::import(&db, users, dry_run).await?;
    for line in report.lines() {
        println!("{line}");
    }
    // Skipped users are listed in the report; the exit status makes sure a script notices.
    match report.skipped.len() {
        0 => Ok(()),
        n => Err(ImportError::Skipped(n).into()),
    }
}

pub(super) async fn open(settings: &DatabaseSettings) -> Result<DatabaseConnection, CliError> {
    let db = server::connect(settings).await?;
    crate::database::migrate(&db).await?;
    Ok(db)
}

async fn serve(mut settings: ServeSettings) -> Result<(), CliError> {
    use std::io::IsTerminal;
    let (stdout, _flushed_at_exit) = telemetry::stdout_writer();
    telemetry::init(settings.log_format, stdout, std::io::stdout().is_terminal());
    if settings.demo {
        demo_mail(&mut settings);
    }
    let app = Application::build(&settings).await?;
    if settings.demo {
        create_demo_user(app.state()).await?;
    }
    tracing::info!(port = app.port(), "listening on {}", settings.bind);
    if settings.log_format == LogFormat::Text {
        eprintln!("spa-auth listening on http://localhost:{}", app.port());
    }
    app.run_until(server::shutdown_signal()).await?;
    Ok(())
}

/// The demo shows every flow without a mail server: with no SMTP URL, mail goes to the log
/// (links included; see `mail::transport`), from a made-up sender, with links to this server.
fn demo_mail(settings: &mut ServeSettings) {
    if settings.mail.smtp_url.is_some() {
        return;
    }
    settings.mail.smtp_url = Some("log".into());
    settings
        .mail
        .mail_from
        .get_or_insert_with(|| DEMO_MAIL_FROM.into());
    let port = settings.bind.port();
    settings
        .public_url
        .get_or_insert_with(|| format!("http://localhost:{port}"));
    eprintln!("demo: mail is printed to the log, not sent (set SPA_AUTH_SMTP_URL to send it)");
}

/// The `From` of the demo's mail.
pub const DEMO_MAIL_FROM: &str = "spa-auth demo <no-reply@example.com>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_mails_to_the_log_with_links_to_itself_unless_smtp_is_set() {
        let mut settings = ServeSettings::defaults();
        settings.demo = true;
        demo_mail(&mut settings);
        assert_eq!(settings.mail.smtp_url.as_deref(), Some("log"));
        assert_eq!(settings.mail.mail_from.as_deref(), Some(DEMO_MAIL_FROM));
        assert_eq!(
            settings.public_url.as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(settings.validate(), Ok(()));

        let mut settings = ServeSettings::defaults();
        settings.mail.smtp_url = Some("smtp://mail.example.com".into());
        demo_mail(&mut settings);
        assert_eq!(settings.mail.mail_from, None);
        assert_eq!(settings.public_url, None);
    }
}
