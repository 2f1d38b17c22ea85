//! Processes for the cluster tests: `spa-auth serve` as a child process, a private PostgreSQL
//! cluster that a test may stop and start, and polling until a session is refused. The binary,
//! its CLI, the shared PostgreSQL server and the HTTP helpers come from the harness
//! (`spa_auth_tests`).

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use spa_auth_tests::{Api, DEFAULT_COOKIE_NAME, cli_ok, client, command};

pub async fn create_user(db_url: &str, name: &str, password: &str) {
    let email = format!("{name}@example.com");
    cli_ok(
        &[
            "user",
            "create",
            name,
            "--email",
            &email,
            "--database-url",
            db_url,
        ],
        Some(&format!("{password}\n")),
    )
    .await;
}

/// A running `spa-auth serve` child process. Killed when dropped.
pub struct Server {
    pub name: String,
    child: Child,
    port: Option<u16>,
    api: Option<Api>,
    port_rx: Option<tokio::sync::oneshot::Receiver<u16>>,
    stderr: Arc<Mutex<String>>,
    stdout_path: PathBuf,
}

impl Server {
    /// Starts `spa-auth serve` on a free port; [`Server::ready`] waits for it to listen.
    pub fn spawn(name: &str, db_url: &str, extra: &[&str], log_dir: &Path) -> Server {
        let stdout_path = log_dir.join(format!("{name}.log"));
        let stdout = std::fs::File::create(&stdout_path).unwrap();
        let mut child = command()
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", db_url])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start spa-auth");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pipe = child.stderr.take().unwrap();
        let buffer = stderr.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("spa-auth listening on http://localhost:").nth(1)
                    && let (Ok(port), Some(tx)) = (rest.trim().parse::<u16>(), tx.take())
                {
                    let _ = tx.send(port);
                }
                let mut b = buffer.lock().unwrap();
                b.push_str(&line);
                b.push('\n');
            }
        });
        Server {
            name: name.to_owned(),
            child,
            port: None,
            api: None,
            port_rx: Some(rx),
            stderr,
            stdout_path,
        }
    }

    /// Waits until the server listens; panics with its output if it exits or takes too long.
    pub async fn ready(&mut self) -> u16 {
        if let Some(port) = self.port {
            return port;
        }
        let rx = self.port_rx.take().expect("ready called twice");
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(port)) => {
                self.api = Some(Api {
                    address: format!("http://127.0.0.1:{port}"),
                    client: client(Duration::from_secs(10)),
                    cookie_name: DEFAULT_COOKIE_NAME.into(),
                });
                self.port = Some(port);
                port
            }
            _ => panic!(
                "{} did not start listening: {:?}\n{}",
                self.name,
                self.child.try_wait(),
                self.output()
            ),
        }
    }

    /// How to talk to it, once [`Server::ready`] has seen it listen.
    pub fn api(&self) -> &Api {
        self.api.as_ref().expect("server not ready")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote on stderr and stdout (the log).
    pub fn output(&self) -> String {
        let log = std::fs::read_to_string(&self.stdout_path).unwrap_or_default();
        format!(
            "--- {} stderr:\n{}--- {} log:\n{}",
            self.name,
            self.stderr.lock().unwrap(),
            self.name,
            log
        )
    }

    pub fn assert_no_panic(&self) {
        let out = self.output();
        assert!(!out.contains("panicked"), "{} panicked:\n{out}", self.name);
    }

    /// Sends a signal with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
    }
}

/// The status of `GET /api/me` with a session token.
pub async fn me_status(server: &Server, token: &str) -> StatusCode {
    server.api().me(Some(token)).await.status()
}

/// How a token was refused after a change, measured from the moment the change was answered.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    /// When the last request that was still accepted (200) was sent, if any was. The server
    /// handled it no earlier than that, so this is a lower bound of how long the ended session
    /// kept working, whatever the scheduling of this test process.
    pub last_accepted_sent: Option<Duration>,
    /// When the first refusal (401) arrived: an upper bound, which includes any delay of this
    /// process and of the network round trip.
    pub first_refused: Duration,
}

/// Polls `/api/me` with `token` until it is refused (401). Panics if another status comes back
/// or the session is still accepted after `give_up`.
pub async fn until_refused(
    server: &Server,
    token: &str,
    since: Instant,
    give_up: Duration,
) -> Refusal {
    until_refused_every(server, token, since, give_up, Duration::ZERO).await
}

/// [`until_refused`], pausing `pause` between requests: on a small machine, polling flat out
/// takes the CPU the instances need to apply the change, and measures the test, not them.
pub async fn until_refused_every(
    server: &Server,
    token: &str,
    since: Instant,
    give_up: Duration,
    pause: Duration,
) -> Refusal {
    let mut last_accepted_sent = None;
    let mut first = true;
    loop {
        if !first && !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        first = false;
        let sent = since.elapsed();
        let status = me_status(server, token).await;
        let at = since.elapsed();
        match status {
            StatusCode::UNAUTHORIZED => {
                return Refusal {
                    last_accepted_sent,
                    first_refused: at,
                };
            }
            StatusCode::OK if at < give_up => last_accepted_sent = Some(sent),
            other => panic!(
                "{}: /api/me answered {other} {} ms after the change",
                server.name,
                at.as_millis()
            ),
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL cluster of the test's own, in a temporary directory, so the test can stop and
/// start it. Stopped and removed when dropped, whatever happened.
pub struct PgCluster {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_root: bool,
}

impl PgCluster {
    pub fn init() -> PgCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries not found under /usr/lib/postgresql")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max_by_key(|p| {
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("no initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::Builder::new()
            .prefix("spa-auth-pg-")
            .tempdir()
            .unwrap();
        let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        if as_root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot chown the cluster directory to postgres");
        }
        let cluster = PgCluster {
            port: free_port(),
            bin,
            dir,
            as_root,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).current_dir("/").output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .current_dir("/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The TempDir removes the directory.
    }
}
