//! A real SMTP server for the mail tests: aiosmtpd (tests/smtp/sink.py) as a subprocess on a
//! free port, storing each message it accepts as a file that the test reads back and parses
//! as MIME. It can be stopped and started again on the same port, for outages.
//!
//! Its python is `SPA_AUTH_TEST_SMTP_PYTHON` (tests/run-all.sh sets it), or the venv that
//! `bash tests/venv.sh tests/smtp` makes, so that `cargo nextest run` works after one install.

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mailparse::{MailHeaderMap, ParsedMail};

/// aiosmtpd, running or stopped, and the messages it has received.
pub struct SmtpServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// One received message, parsed.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The `text/plain` part, decoded.
    pub text: String,
    /// The `text/html` part, decoded.
    pub html: String,
    /// The message as the server received it.
    pub raw: String,
}

impl Mail {
    /// The first http(s) link in the plain-text part.
    pub fn link(&self) -> Option<String> {
        let start = self
            .text
            .find("https://")
            .into_iter()
            .chain(self.text.find("http://"))
            .min()?;
        let rest = &self.text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

fn python() -> PathBuf {
    match std::env::var_os("SPA_AUTH_TEST_SMTP_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/.venv/bin/python"),
    }
}

impl SmtpServer {
    /// Starts aiosmtpd on a free port; returns once it answers.
    pub async fn start() -> SmtpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port for the SMTP server");
        let dir = tempfile::tempdir().expect("cannot create a directory for received mail");
        let mut server = SmtpServer {
            port,
            dir,
            child: None,
        };
        server.start_again().await;
        server
    }

    /// `smtp://127.0.0.1:PORT`, plain SMTP as to a local relay.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server: connections to its port are refused until [`SmtpServer::start_again`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
    }

    /// Starts the server again on the same port, keeping the messages received so far.
    pub async fn start_again(&mut self) {
        self.stop().await;
        let python = python();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py");
        let child = Command::new(&python)
            .arg(&script)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start aiosmtpd with {} (run `bash tests/venv.sh tests/smtp`, or set \
                     SPA_AUTH_TEST_SMTP_PYTHON to a python that has aiosmtpd): {e}",
                    python.display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "aiosmtpd exited at start ({status}); is port {} taken?",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("cannot read the received mail")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| parse(&std::fs::read(p).expect("cannot read a received message")))
            .collect()
    }

    /// The messages received so far for `to`.
    pub fn messages_to(&self, to: &str) -> Vec<Mail> {
        let to = to.to_lowercase();
        let mut all = self.messages();
        all.retain(|m| m.to.to_lowercase().contains(&to));
        all
    }

    /// The first message for `to`, waiting up to `timeout` for it.
    pub async fn wait_for_message(&self, to: &str, timeout: Duration) -> Mail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.messages_to(to).into_iter().next() {
                return mail;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no mail to {to} within {timeout:?}; received: {:?}",
                    self.messages()
                        .iter()
                        .map(|m| (&m.to, &m.subject))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn parse(raw: &[u8]) -> Mail {
    let parsed = mailparse::parse_mail(raw).expect("a received message is not valid MIME");
    let header = |name: &str| parsed.headers.get_first_value(name).unwrap_or_default();
    let mut mail = Mail {
        from: header("From"),
        to: header("To"),
        subject: header("Subject"),
        text: String::new(),
        html: String::new(),
        raw: String::from_utf8_lossy(raw).into_owned(),
    };
    collect_parts(&parsed, &mut mail);
    mail
}

/// The first `text/plain` and `text/html` parts, however deeply nested.
fn collect_parts(part: &ParsedMail, mail: &mut Mail) {
    if part.subparts.is_empty() {
        let body = part.get_body().expect("a message part does not decode");
        match part.ctype.mimetype.as_str() {
            "text/plain" if mail.text.is_empty() => mail.text = body,
            "text/html" if mail.html.is_empty() => mail.html = body,
            _ => {}
        }
    }
    for sub in &part.subparts {
        collect_parts(sub, mail);
    }
}
