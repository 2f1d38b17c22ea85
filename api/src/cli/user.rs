//! `spa-auth user ...`: accounts an operator manages, and the demo user of `serve --demo`.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use super::{CliError, open};
use crate::{
    database::DatabaseSettings,
    passwords::{Password, PasswordSettings, Passwords, check_new_password},
    users::{self, NewUser},
};

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
        /// The server's mail setting: when set (as `SPA_AUTH_SMTP_URL` is for the server), the
        /// user is told by mail that their password was changed. The running server delivers
        /// it; this command only queues it.
        #[arg(
            long,
            env = "SPA_AUTH_SMTP_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        smtp_url: Option<String>,
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
    /// Show one user: address, names, state, roles, second factor, sessions.
    Show {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// Change a user's address or names. A new address counts as verified (you vouch for
    /// it) and must be one no other account has; links mailed to the old one stop working.
    Edit {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// Delete a user and everything of theirs; every session ends at once, everywhere. Asks
    /// for the username again at a terminal; scripts pass `--yes`.
    Delete {
        username: String,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// List users.
    List {
        #[command(flatten)]
        db: DatabaseSettings,
    },
    /// Second factors of a user.
    #[command(subcommand)]
    Mfa(MfaCommand),
}

#[derive(Subcommand, Debug)]
pub enum MfaCommand {
    /// Removes the user's TOTP, recovery codes and passkeys (for a user who lost them) and ends
    /// every session; returns once every running instance has dropped them. The next login asks
    /// for the password only.
    Reset {
        username: String,
        #[command(flatten)]
        db: DatabaseSettings,
    },
}

pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_PASSWORD: &str = "spa-auth-demo";

pub(super) async fn create_demo_user(state: &crate::http::state::AppState) -> Result<(), CliError> {
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

/// A new password: typed twice at a terminal, without echo; otherwise one line of standard
/// input (for scripts), without its line ending.
fn read_password() -> Result<Password, CliError> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("password (again): ")?;
        if first != again {
            return Err(CliError::PasswordsDiffer);
        }
        return Ok(Password::new(first));
    }
    let line = read_line()?;
    Ok(Password::new(line))
}

/// One line of standard input, without its line ending.
fn read_line() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_owned())
}

/// A deletion goes ahead with `--yes`, or once the username is typed again at a terminal;
/// without a terminal to ask at, a script that forgot `--yes` deletes nothing.
fn confirm_delete(username: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed(username.to_owned()));
    }
    eprint!("delete {username} and end every session? type the username again: ");
    match read_line()? == username {
        true => Ok(()),
        false => Err(CliError::NotConfirmed(username.to_owned())),
    }
}

pub(super) async fn user(cmd: UserCommand) -> Result<(), CliError> {
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
            smtp_url,
            db,
            password,
        } => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let pw = read_password()?;
            check_new_password(pw.expose(), &user.username)?;
            let hash = Passwords::new(&password)?.hash(&pw).await?;
            users::set_password_hash(&db, user, hash, smtp_url.is_some()).await?;
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
        UserCommand::Mfa(MfaCommand::Reset { username, db }) => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let ended = crate::second_factor::reset(&db, user.id).await?;
            // Returns once every running instance has dropped the sessions from its cache.
            crate::sessions::registry::settle_everywhere(&db, user.id).await;
            tracing::info!(target: "audit", event = "second_factor_reset", %username, "by operator");
            println!("second factors of {username} removed; ended {ended} sessions");
        }
        UserCommand::Show { username, db } => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let sessions = crate::sessions::list_for_user(&db, user.id).await?;
            let factors = crate::second_factor::methods_of(&db, user.id).await?;
            print!("{}", show(&user, sessions.len(), &factors));
        }
        UserCommand::Edit {
            username,
            email,
            first_name,
            last_name,
            db,
        } => {
            if let Some(email) = &email
                && !crate::accounts::valid_email(email.trim())
            {
                return Err(CliError::InvalidEmail(email.clone()));
            }
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            let edit = users::Edit {
                email,
                first_name,
                last_name,
            };
            let user = users::edit(&db, user, edit).await?;
            println!("{} edited", user.username);
        }
        UserCommand::Delete { username, yes, db } => {
            let db = open(&db).await?;
            let user = users::get_by_username(&db, &username).await?;
            confirm_delete(&user.username, yes)?;
            let ended = users::delete(&db, user).await?;
            println!("deleted {username}; ended {ended} sessions");
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

/// `spa-auth user show`: one `field: value` line each, for people and for `grep`.
fn show(u: &entity::user::Model, sessions: usize, factors: &[&str]) -> String {
    let or_never = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
    };
    let lines = [
        ("id", u.id.to_string()),
        ("username", u.username.clone()),
        ("email", u.email.clone()),
        ("email verified", or_never(u.email_verified_at)),
        ("first name", u.first_name.clone()),
        ("last name", u.last_name.clone()),
        ("active", u.is_active.to_string()),
        ("roles", u.roles.0.join(",")),
        ("second factors", factors.join(",")),
        ("joined", u.date_joined.to_rfc3339()),
        ("last login", or_never(u.last_login)),
        ("sessions", sessions.to_string()),
    ];
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

async fn set_active(username: &str, db: &DatabaseSettings, active: bool) -> Result<(), CliError> {
    let db = open(db).await?;
    let user = users::get_by_username(&db, username).await?;
    users::set_active(&db, user, active).await?;
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
    match (changed, grant) {
        (false, true) => println!("{username} already has role {role}"),
        (false, false) => println!("{username} does not have role {role}"),
        (true, true) => println!("granted {role} to {username}"),
        (true, false) => println!("revoked {role} from {username}"),
    }
    Ok(())
}
