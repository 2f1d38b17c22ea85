//! The subject, plain-text and HTML body of each [`MailKind`], rendered with minijinja. The
//! built-in templates (`api/templates/mail/`) are compiled in; any of them can be replaced by
//! a file of the same name in `SPA_AUTH_MAIL_TEMPLATES`. Every template is rendered once with
//! sample variables at start-up, so that a broken override stops the service there rather
//! than failing each message later.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde_json::{Map, Value as Json, json};

use super::{Composed, MailKind};

macro_rules! builtin {
    ($($kind:literal),* $(,)?) => {
        &[$(
            (concat!($kind, ".subject.txt"), include_str!(concat!("../../templates/mail/", $kind, ".subject.txt"))),
            (concat!($kind, ".txt"), include_str!(concat!("../../templates/mail/", $kind, ".txt"))),
            (concat!($kind, ".html"), include_str!(concat!("../../templates/mail/", $kind, ".html"))),
        )*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin!(
    "verify_email",
    "email_change_requested",
    "password_reset",
    "password_changed",
    "signup_attempted",
    "invite",
);

/// A template that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("mail template {file}: {source}")]
    Broken {
        /// The override's path, or the built-in template's name.
        file: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("mail template {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mail template {0}: the subject is empty")]
    EmptySubject(String),
}

/// A message's text, ready to send.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Every template, built in or overridden, checked. minijinja escapes what it puts in a
/// `.html` template, by the name, and nothing in the `.txt` ones.
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from, for error messages.
    origin: BTreeMap<String, String>,
}

impl Templates {
    /// The built-in templates, with those in `dir` in their place; fails on the first template
    /// that does not parse or does not render with the variables its kind gets.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        // A misspelt variable must fail the check below, not render as nothing.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // minijinja's HTML escaping also turns `/` into `&#x2f;`: correct, but it makes every
        // link in the source unreadable, and some mail filters distrust such links.
        env.set_formatter(
            |out, state, value| match (state.auto_escape(), value.as_str()) {
                (AutoEscape::Html, Some(text)) if !value.is_safe() => out
                    .write_str(&escape_html(text))
                    .map_err(minijinja::Error::from),
                _ => minijinja::escape_formatter(out, state, value),
            },
        );
        let mut origin = BTreeMap::new();
        for (name, source) in BUILTIN {
            let (file, source) = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    (path.display().to_string(), text)
                }
                None => (format!("{name} (built in)"), (*source).to_owned()),
            };
            env.add_template_owned(*name, source)
                .map_err(|source| TemplateError::Broken {
                    file: file.clone(),
                    source,
                })?;
            origin.insert((*name).to_owned(), file);
        }
        let templates = Templates { env, origin };
        for kind in MailKind::ALL {
            templates.render_parts(kind, &sample(kind))?;
        }
        Ok(templates)
    }

    /// The message of `composed`.
    pub fn render(&self, composed: &Composed) -> Result<Rendered, TemplateError> {
        self.render_parts(composed.kind, &composed.vars)
    }

    fn render_parts(
        &self,
        kind: MailKind,
        vars: &Map<String, Json>,
    ) -> Result<Rendered, TemplateError> {
        let ctx = context(vars);
        // A header is one line: whatever a template's line breaks, the subject has none.
        let subject = self.part(kind, "subject.txt", &ctx)?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            return Err(TemplateError::EmptySubject(
                self.file(&format!("{}.subject.txt", kind.as_str())),
            ));
        }
        Ok(Rendered {
            subject,
            text: self.part(kind, "txt", &ctx)?,
            html: self.part(kind, "html", &ctx)?,
        })
    }

    fn part(&self, kind: MailKind, suffix: &str, ctx: &Value) -> Result<String, TemplateError> {
        let name = format!("{}.{suffix}", kind.as_str());
        let broken = |source| TemplateError::Broken {
            file: self.file(&name),
            source,
        };
        let template = self.env.get_template(&name).map_err(broken)?;
        template.render(ctx.clone()).map_err(broken)
    }

    fn file(&self, name: &str) -> String {
        self.origin
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }
}

/// The five characters that matter in HTML text and quoted attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// minijinja's context from the composer's JSON variables (all strings today).
fn context(vars: &Map<String, Json>) -> Value {
    let map: BTreeMap<String, Value> = vars
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Json::String(s) => Value::from(s.clone()),
                Json::Bool(b) => Value::from(*b),
                Json::Null => Value::from(()),
                other => Value::from(other.to_string()),
            };
            (k.clone(), v)
        })
        .collect();
    Value::from_object(map)
}

/// The variables `accounts::compose` gives each kind, with made-up values.
pub fn sample(kind: MailKind) -> Map<String, Json> {
    let site = "https://auth.example.com";
    let vars = match kind {
        MailKind::VerifyEmail => json!({
            "username": "alice", "link": format!("{site}/verify-email#token=sample"),
            "expires_in": "24 hours",
        }),
        MailKind::PasswordReset => json!({
            "username": "alice", "link": format!("{site}/reset-password#token=sample"),
            "expires_in": "30 minutes",
        }),
        MailKind::Invite => json!({
            "link": format!("{site}/signup#invite=sample"), "expires_in": "7 days",
        }),
        MailKind::EmailChangeRequested => json!({
            "username": "alice", "new_email": "alice@new.example.com",
        }),
        MailKind::PasswordChanged => json!({
            "username": "alice", "reset_link": format!("{site}/forgot-password"),
        }),
        MailKind::SignupAttempted => json!({
            "email": "alice@example.com", "reset_link": format!("{site}/forgot-password"),
        }),
    };
    let mut vars = match vars {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    vars.insert("site".into(), Json::String(site.into()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_render_and_escape_html() {
        let templates = Templates::load(None).expect("built-in templates");
        let mut vars = sample(MailKind::PasswordChanged);
        vars.insert("username".into(), Json::String("<b>al&ce</b>".into()));
        let msg = templates
            .render(&Composed {
                kind: MailKind::PasswordChanged,
                to: "alice@example.com".into(),
                vars,
            })
            .expect("renders");
        assert_eq!(msg.subject, "Your password was changed");
        assert!(msg.text.contains("Hello <b>al&ce</b>,"), "{}", msg.text);
        assert!(
            msg.html.contains("&lt;b&gt;al&amp;ce&lt;/b&gt;"),
            "{}",
            msg.html
        );
        assert!(
            msg.html
                .contains("href=\"https://auth.example.com/forgot-password\""),
            "{}",
            msg.html
        );
        assert!(
            msg.text
                .contains("https://auth.example.com/forgot-password")
        );
    }
}
