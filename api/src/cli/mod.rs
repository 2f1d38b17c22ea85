//! The `spa-auth` command line.

pub mod django_import;

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::{
    config::{DatabaseSettings, LogFormat, PasswordSettings},
    passwords::{Password, Passwords, check_new_password},
    server::ServeSettings,
    server::{self, Application},
    sessions::{Reason, Which, end_sessions, purge_expired},
    telemetry,
    users::{self, NewUser},
};

#[derive(Parser, Debug)]
#[command(
    name = "spa-auth",
    version,
    about = "Server-side session authentication for single-page apps"
)]
pub struct Cli {
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
    /// Import users from another system.
    #[command(subcommand)]
    Import(ImportCommand),
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
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        #[command(flatten)]
        db: DatabaseSettings,
        #[command(flatten)]
        password: PasswordSettings,
    },
    /// Set a user's password (read from standard input); ends all of the user's sessions.
    SetPassword {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
        #[command(flatten)]
        password: PasswordSettings,
    },
    /// Deactivate a user: no more logins, and every session ends now.
    Deactivate {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// Let a deactivated user log in again.
    Activate {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// Give a user a role; every session of the user sees it on its next request.
    Grant {
        username: String,
        role: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// Take a role away; every session of the user loses it on its next request.
    Revoke {
        username: String,
        role: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// List users.
    List {
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
    Config(#[from] crate::config::ConfigError),
    #[error("role {0:?} is not valid: 1 to 64 letters, digits and _ - . : only")]
    InvalidRole(String),
    #[error("import: {0}")]
    Import(#[from] crate::cli::django_import::ImportError),
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
        Command::Sessions(SessionsCommand::Revoke { username, db }) => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let n = end_sessions(&db, user.id, Which::All, Reason::Revoked).await?;
            settle().await;
            println!("ended {n} sessions of {username}");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::http::app::openapi_json());
            Ok(())
        }
        Command::Import(ImportCommand::Django { from, dry_run, db }) => {
            import_django(&from, dry_run, &db).await
        }
    }
}

async fn import_django(from: &str, dry_run: bool, db: &DatabaseSettings) -> Result<(), CliError> {
    use crate::cli::django_import::{self, ImportError};
    let django = django_import::connect_django(from).await?;
    let users = django_import::read_django_users(&django).await?;
    django.close().await?;
    // A dry run must write nothing, so it does not migrate either.
    let db = match dry_run {
        true => crate::database::connect(db).await?,
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

async fn open(settings: &DatabaseSettings) -> Result<DatabaseConnection, CliError> {
    let db = crate::database::connect(settings).await?;
    crate::database::migrate(&db).await?;
    Ok(db)
}

async fn serve(settings: ServeSettings) -> Result<(), CliError> {
    telemetry::init(settings.log_format, std::io::stdout);
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

pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_PASSWORD: &str = "spa-auth-demo";

async fn create_demo_user(state: &crate::http::state::AppState) -> Result<(), CliError> {
    if users::count(&state.db).await? > 0 {
        eprintln!("demo: users exist already, none created");
        return Ok(());
    }
    let hash = state.passwords.hash(&Password::new(DEMO_PASSWORD)).await?;
    let new = NewUser {
        username: DEMO_USERNAME.into(),
        email: "demo@example.com".into(),
        first_name: "Demo".into(),
        last_name: "User".into(),
    };
    users::create(&state.db, new, Some(hash)).await?;
    eprintln!("demo: log in as username {DEMO_USERNAME:?} with password {DEMO_PASSWORD:?}");
    Ok(())
}

/// Reads one line from standard input, without its line ending.
fn read_password() -> Result<Password, CliError> {
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(Password::new(trimmed))
}

async fn user(cmd: UserCommand) -> Result<(), CliError> {
    match cmd {
        UserCommand::Create {
            username,
            email,
            first_name,
            last_name,
            db,
            password,
        } => {
            if !users::valid_username(&username) {
                return Err(users::UserError::InvalidUsername.into());
            }
            let pw = read_password()?;
            check_new_password(pw.expose(), &username)?;
            let hash = Passwords::new(&password)?.hash(&pw).await?;
            let db = open(&db).await?;
            let new = NewUser {
                username,
                email,
                first_name,
                last_name,
            };
            let user = users::create(&db, new, Some(hash)).await?;
            println!("created user {} ({})", user.username, user.id);
        }
        UserCommand::SetPassword {
            username,
            db,
            password,
        } => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let pw = read_password()?;
            check_new_password(pw.expose(), &user.username)?;
            let hash = Passwords::new(&password)?.hash(&pw).await?;
            users::set_password_hash(&db, user, hash).await?;
            settle().await;
            tracing::info!(target: "audit", event = "password_changed", %username, "by operator");
            println!("password set; every session of {username} has ended");
        }
        UserCommand::Deactivate { username, db } => set_active(&username, &db, false).await?,
        UserCommand::Activate { username, db } => set_active(&username, &db, true).await?,
        UserCommand::Grant { username, role, db } => {
            change_role(&username, &role, &db, true).await?
        }
        UserCommand::Revoke { username, role, db } => {
            change_role(&username, &role, &db, false).await?
        }
        UserCommand::List { db } => {
            let db = open(&db).await?;
            for u in users::list(&db).await? {
                let state = if u.is_active { "active" } else { "inactive" };
                let roles = u.roles.0.join(",");
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.id, u.username, u.email, state, roles
                );
            }
        }
    }
    Ok(())
}

async fn set_active(username: &str, db: &DatabaseSettings, active: bool) -> Result<(), CliError> {
    let db = open(db).await?;
    let user = users::get_by_username(&db, username).await?;
    users::set_active(&db, user, active).await?;
    settle().await;
    if active {
        println!("{username} can log in again");
    } else {
        tracing::info!(target: "audit", event = "user_deactivated", %username, "by operator");
        println!("{username} deactivated; every session has ended");
    }
    Ok(())
}

async fn change_role(
    username: &str,
    role: &str,
    db: &DatabaseSettings,
    grant: bool,
) -> Result<(), CliError> {
    if !users::valid_role(role) {
        return Err(CliError::InvalidRole(role.to_owned()));
    }
    let db = open(db).await?;
    let user = users::get_by_username(&db, username).await?;
    let changed = users::change_role(&db, user, role, grant).await?;
    settle().await;
    match (changed, grant) {
        (false, true) => println!("{username} already has role {role}"),
        (false, false) => println!("{username} does not have role {role}"),
        (true, true) => println!("granted {role} to {username}"),
        (true, false) => println!("revoked {role} from {username}"),
    }
    Ok(())
}

/// Waits until every running instance has seen a change this command made: each polls for
/// changed users every `SPA_AUTH_INVALIDATION_POLL` (50 ms by default), so two intervals
/// suffice. Returning only then means "deactivated" is true for the very next request
/// anywhere, not just eventually.
async fn settle() {
    let poll = std::env::var("SPA_AUTH_INVALIDATION_POLL")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(std::time::Duration::from_millis(50));
    tokio::time::sleep(crate::sessions::cache::propagation_bound(poll)).await;
}
