//! The optional settings file (`--config FILE`, `SPA_AUTH_CONFIG`): TOML whose keys are the
//! long flags of `spa-auth serve` (`database-url = "..."`, `session-idle-timeout = "7days"`;
//! `_` may stand for `-`), beneath flags and environment variables.
//!
//! The file's values become the flags' defaults before clap parses, so clap's own order gives
//! the precedence: a flag, then its environment variable, then the file, then the built-in
//! default. Every command gets the file's values for the flags it has (`user set-password`
//! its `smtp-url`, every database command its `database-url`), and `config check` shows where
//! each setting came from.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
};

use clap::{ArgMatches, CommandFactory, FromArgMatches, parser::ValueSource};

use super::Cli;

/// Why the command line or the settings file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error(
        "settings file {path}: unknown key {key:?} (the keys are the long flags of `spa-auth serve`, such as \"database-url\")"
    )]
    UnknownKey { path: PathBuf, key: String },
    #[error("settings file {path}: {key:?} must be {what}")]
    BadValue {
        path: PathBuf,
        key: String,
        what: &'static str,
    },
    /// Usage errors, `--help` and `--version`: clap prints them itself.
    #[error(transparent)]
    Clap(#[from] clap::Error),
}

/// One setting as `config check` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The long flag.
    pub key: String,
    /// The value, secrets redacted; `None` when unset.
    pub value: Option<String>,
    /// `flag`, `env NAME`, `file` or `default`.
    pub source: String,
}

/// Parses the command line under the settings file, if one is named.
pub fn parse<I, T>(args: I) -> Result<Cli, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let file = match config_path(&args) {
        Some(path) => Some(read(&path)?),
        None => None,
    };
    let mut command = Cli::command();
    if let Some(file) = &file {
        command = with_defaults(command, &file.values);
    }
    let matches = command.try_get_matches_from(&args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let super::Command::Config(super::ConfigCommand::Check(check)) = &mut cli.command {
        let sub = matches
            .subcommand_matches("config")
            .and_then(|m| m.subcommand_matches("check"));
        let from_file = file.as_ref().map(|f| &f.values);
        check.effective = sub.map(|m| effective(m, from_file)).unwrap_or_default();
        check.file = file.map(|f| f.path);
    }
    Ok(cli)
}

/// The file named by `--config FILE` / `--config=FILE`, or else `SPA_AUTH_CONFIG`. Read before
/// clap parses, since its values change what clap parses with.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("SPA_AUTH_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

struct File {
    path: PathBuf,
    /// Long flag → its value as a command-line string.
    values: BTreeMap<String, String>,
}

fn read(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let serve = Cli::command()
        .find_subcommand("serve")
        .cloned()
        .expect("`serve` is a subcommand");
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()) && flag != "config");
        let Some(arg) = arg else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key,
            });
        };
        let bad = |what| ConfigError::BadValue {
            path: path.to_owned(),
            key: key.clone(),
            what,
        };
        let list = arg.get_value_delimiter().is_some();
        let text = match value {
            toml::Value::Array(items) if list => items
                .into_iter()
                .map(|v| scalar(v).ok_or_else(|| bad("a list of strings")))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            toml::Value::Array(_) => return Err(bad("a string, number or boolean, not a list")),
            other => scalar(other).ok_or_else(|| bad("a string, number or boolean"))?,
        };
        values.insert(flag, text);
    }
    Ok(File {
        path: path.to_owned(),
        values,
    })
}

fn scalar(value: toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// Makes the file's values the defaults of every flag they name, in every subcommand.
fn with_defaults(command: clap::Command, values: &BTreeMap<String, String>) -> clap::Command {
    let ids: Vec<(clap::Id, String, bool)> = command
        .get_arguments()
        .filter_map(|a| {
            let value = values.get(a.get_long()?)?;
            Some((a.get_id().clone(), value.clone(), is_secret(a)))
        })
        .collect();
    let mut command = command;
    for (id, value, secret) in ids {
        // `--help` shows defaults: never a secret from the file.
        command = command.mut_arg(id, |a| a.default_value(value).hide_default_value(secret));
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| with_defaults(sub, values));
    }
    command
}

/// Every setting of `config check`'s matches: its value (secrets redacted) and its source.
fn effective(matches: &ArgMatches, file: Option<&BTreeMap<String, String>>) -> Vec<Effective> {
    let check = Cli::command()
        .find_subcommand("config")
        .and_then(|c| c.find_subcommand("check"))
        .cloned()
        .expect("`config check` is a subcommand");
    check
        .get_arguments()
        .filter_map(|arg| {
            let key = arg.get_long()?.to_owned();
            if key == "config" {
                return None;
            }
            let id = arg.get_id().as_str();
            let value = matches.get_raw(id).map(|values| {
                let text: Vec<String> = values.map(|v| v.to_string_lossy().into_owned()).collect();
                redact(arg, &text.join(","))
            });
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => "flag".to_owned(),
                Some(ValueSource::EnvVariable) => format!("env {}", env.unwrap_or_default()),
                _ if file.is_some_and(|f| f.contains_key(&key)) => "file".to_owned(),
                _ => "default".to_owned(),
            };
            Some(Effective { key, value, source })
        })
        .collect()
}

/// Secrets are the settings whose environment values `--help` hides, and the database URL.
fn is_secret(arg: &clap::Arg) -> bool {
    arg.is_hide_env_values_set() || arg.get_long() == Some("database-url")
}

/// A secret URL keeps all but its password; any other secret is `***`.
fn redact(arg: &clap::Arg, value: &str) -> String {
    match (is_secret(arg), value.contains("://")) {
        (false, _) => value.to_owned(),
        (true, true) => crate::database::redacted_url(value),
        (true, false) => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_is_found_in_the_flag_before_the_environment() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&args(&["spa-auth", "serve", "--config", "a.toml"])),
            Some("a.toml".into())
        );
        assert_eq!(
            config_path(&args(&["spa-auth", "--config=b.toml", "serve"])),
            Some("b.toml".into())
        );
    }
}
