//! Processes for the cluster tests: the real `spa-auth` binary, its CLI, a PostgreSQL database
//! on the shared test server, a private PostgreSQL cluster that a test may stop and start, and
//! HTTP helpers that handle the session cookie by hand.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
pub use spa_auth_tests::{test_pg, with_database};

pub const COOKIE: &str = "__Host-session";

/// The binary under test, as `cargo build --bins` left it.
pub fn bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let path = target.join("debug").join("spa-auth");
    assert!(
        path.exists(),
        "{} does not exist: build it first (cargo build -p spa-auth --bins)",
        path.display()
    );
    path
}

/// A command for the binary, with no `SPA_AUTH_*` or `DATABASE_URL` leaking in from the
/// environment of whoever runs the tests.
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("SPA_AUTH_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `spa-auth ARGS...` to completion, with `stdin` as its standard input.
pub async fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = command()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run spa-auth");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Runs the CLI and insists that it succeeds.
pub async fn cli_ok(args: &[&str], stdin: Option<&str>) -> Output {
    let out = cli(args, stdin).await;
    assert!(
        out.status.success(),
        "spa-auth {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

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

    pub fn port(&self) -> u16 {
        self.port.expect("server not ready")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
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

/// A client without a cookie store: cookies are read and sent by hand.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(32)
        .build()
        .unwrap()
}

/// The session token a response sets, if any (an empty value clears the cookie).
pub fn session_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            v.split(';')
                .next()?
                .trim()
                .strip_prefix(&format!("{COOKIE}="))
        })
        .map(str::to_owned)
        .find(|v| !v.is_empty())
}

pub fn cookie_header(token: &str) -> String {
    format!("{COOKIE}={token}")
}

/// Logs in and returns the session token; panics unless the login succeeds.
pub async fn login(client: &reqwest::Client, server: &Server, user: &str, pw: &str) -> String {
    let resp = client
        .post(server.url("/api/auth/login"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let token = session_cookie(&resp);
    assert_eq!(
        status,
        StatusCode::OK,
        "login of {user} on {}: {:?}",
        server.name,
        resp.text().await
    );
    token.expect("login set no session cookie")
}

/// `GET /api/me` with a session token.
pub async fn me(client: &reqwest::Client, server: &Server, token: &str) -> Response {
    client
        .get(server.url("/api/me"))
        .header(reqwest::header::COOKIE, cookie_header(token))
        .send()
        .await
        .unwrap()
}

pub async fn me_status(client: &reqwest::Client, server: &Server, token: &str) -> StatusCode {
    me(client, server, token).await.status()
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
    client: reqwest::Client,
    server: &Server,
    token: &str,
    since: Instant,
    give_up: Duration,
) -> Refusal {
    let mut last_accepted_sent = None;
    loop {
        let sent = since.elapsed();
        let status = me_status(&client, server, token).await;
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

async fn admin(url: &str) -> DatabaseConnection {
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required and is not reachable at {url} (set SPA_AUTH_TEST_PG): {e}")
    })
}

/// A fresh database `spa_auth_t_<random>` on the shared server, dropped when this is dropped.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let admin_url = test_pg();
        let name = format!("spa_auth_t_{}", uuid::Uuid::new_v4().simple());
        let db = admin(&admin_url).await;
        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let _ = db.close().await;
        PgDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(db) = Database::connect(admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = db.execute_unprepared(&sql).await;
                    let _ = db.close().await;
                }
            });
        })
        .join();
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
