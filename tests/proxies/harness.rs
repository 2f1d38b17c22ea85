//! A real nginx or Caddy in front of spa-auth and of a team's API, running the configs shipped
//! in `deploy/`, with only their addresses replaced: the proxies run as foreground processes
//! of the test from a temporary directory, on a free port, and die with the test.

use std::{
    net::{SocketAddr, TcpListener as StdListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use poem::{
    EndpointExt, Request, Server, handler,
    listener::TcpAcceptor,
    web::{Data, Json},
};
use spa_auth::{
    passwords::Password,
    users::{self, NewUser},
};
use spa_auth_tests::{Api, Db, TestApp, client, spawn_app_with};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
}

/// The addresses in `deploy/`'s configs, which the tests replace with their own.
const SPA_AUTH_ADDRESS: &str = "127.0.0.1:8080";
const API_ADDRESS: &str = "127.0.0.1:9000";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
}

/// A shipped config with `(from, to)` replaced; a `from` it no longer contains fails the test,
/// so that the file and the tests cannot drift apart unnoticed.
fn render(path: &Path, replacements: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "{} no longer contains {from:?}, which tests/proxies/harness.rs replaces",
            path.display()
        );
        text = text.replace(from, to);
    }
    text
}

/// Where one proxy runs, and what it stands in front of.
struct Site<'a> {
    dir: &'a Path,
    port: u16,
    spa_auth: SocketAddr,
    api: SocketAddr,
}

impl Site<'_> {
    /// The shipped config at `path` for this site: the two addresses, and how it listens.
    fn render(&self, path: &Path, listen: (&str, &str)) -> String {
        let (spa_auth, api) = (self.spa_auth.to_string(), self.api.to_string());
        render(
            path,
            &[(SPA_AUTH_ADDRESS, &spa_auth), (API_ADDRESS, &api), listen],
        )
    }
}

/// The proxy's executable, or a failure saying how to install it: a missing proxy must never
/// make these tests pass by skipping them.
fn executable(kind: Kind) -> PathBuf {
    // Debian's package and binary names.
    let name = match kind {
        Kind::Nginx => "nginx",
        Kind::Caddy => "caddy",
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Debian installs nginx in /usr/sbin, which a non-root PATH often lacks.
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: `sudo apt-get install {name}` \
                 (tests/run-all.sh installs it)"
            )
        })
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A running proxy process, killed when dropped (also when the test panics).
pub struct Proxy {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

impl Proxy {
    /// Starts `kind` on a free port in front of spa-auth at `spa_auth` and the API at `api`,
    /// and waits until it accepts connections.
    pub async fn start(kind: Kind, spa_auth: SocketAddr, api: SocketAddr) -> Proxy {
        // The free port is only free until someone else binds it: another test may take it
        // between our check and the proxy's bind, so a lost race starts over on a new port.
        for _ in 0..3 {
            let mut proxy = Proxy::spawn(kind, spa_auth, api);
            match proxy.wait_listening(kind).await {
                Ok(()) => return proxy,
                Err(logs) if logs.to_ascii_lowercase().contains("address already in use") => {}
                Err(logs) => panic!("{kind:?} did not start:\n{logs}"),
            }
        }
        panic!("{kind:?} lost the race for a free port three times")
    }

    fn spawn(kind: Kind, spa_auth: SocketAddr, api: SocketAddr) -> Proxy {
        let exe = executable(kind);
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let site = Site {
            dir: dir.path(),
            port,
            spa_auth,
            api,
        };
        let mut cmd = match kind {
            Kind::Nginx => nginx_command(&exe, &site),
            Kind::Caddy => caddy_command(&exe, &site),
        };
        let log = std::fs::File::create(dir.path().join("output.log")).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        Proxy { port, child, dir }
    }

    /// Waits until the proxy answers HTTP; its logs if it exits or hangs first. The answer
    /// must carry the proxy's own `Server` header: a process that took the port first answers
    /// too (and nginx keeps retrying its bind for seconds before it gives up).
    async fn wait_listening(&mut self, kind: Kind) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let probe = client(Duration::from_secs(2));
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let ours = format!("{kind:?}").to_ascii_lowercase();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", self.logs()));
            }
            if let Ok(resp) = probe.get(&url).send().await {
                let server = resp.headers().get_all("server").iter();
                let mut names =
                    server.map(|v| String::from_utf8_lossy(v.as_bytes()).to_lowercase());
                if names.any(|name| name.contains(&ours)) {
                    return Ok(());
                }
                return Err(format!(
                    "address already in use by another server on {}",
                    self.port
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not listening on {} after 15 s:\n{}",
                    self.port,
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the proxy wrote, for failure messages.
    pub fn logs(&self) -> String {
        ["output.log", "error.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.path().join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx as its own foreground process: no master, no daemon, every file it writes in `dir`.
/// The main file stands for Debian's /etc/nginx/nginx.conf, which includes the shipped one.
fn nginx_command(exe: &Path, site: &Site) -> Command {
    let (dir, port) = (site.dir, site.port);
    let shipped = deploy_dir().join("nginx");
    let conf = site.render(
        &shipped.join("spa-auth.conf"),
        ("listen 80;", &format!("listen 127.0.0.1:{port};")),
    );
    std::fs::write(dir.join("spa-auth.conf"), conf).expect("write nginx config");
    let snippets = dir.join("snippets");
    std::fs::create_dir(&snippets).expect("snippets directory");
    for entry in std::fs::read_dir(shipped.join("snippets")).expect("deploy/nginx/snippets") {
        let entry = entry.expect("deploy/nginx/snippets entry");
        std::fs::copy(entry.path(), snippets.join(entry.file_name())).expect("copy snippet");
    }
    let d = dir.display();
    let main = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/client_body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include spa-auth.conf;\n}}\n"
    );
    let main_file = dir.join("nginx.conf");
    std::fs::write(&main_file, main).expect("write nginx.conf");
    let mut cmd = Command::new(exe);
    // -e: nginx opens its compiled-in error log before reading the config; /var/log/nginx is
    // not writable without root.
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&main_file)
        .arg("-e")
        .arg(dir.join("error.log"));
    cmd
}

/// `caddy run` on the shipped Caddyfile, served over plain HTTP on `port`, with no admin
/// endpoint (parallel tests would fight over its port) and Caddy's storage in `dir`.
fn caddy_command(exe: &Path, site: &Site) -> Command {
    let (dir, port) = (site.dir, site.port);
    let conf = site.render(
        &deploy_dir().join("caddy").join("Caddyfile"),
        ("\nexample.com {", &format!("\nhttp://127.0.0.1:{port} {{")),
    );
    let file = dir.join("Caddyfile");
    std::fs::write(
        &file,
        format!("{{\n\tadmin off\n\tauto_https off\n}}\n\n{conf}"),
    )
    .expect("write Caddyfile");
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir);
    cmd
}

/// One request as the team's API received it: header names in lower case, in order.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// Every value of a header, as received.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The header's one value; two of them would let the API pick the client's.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self.all(name).as_slice() {
            [] => None,
            [one] => Some(one),
            many => panic!("the API received {name} {} times: {many:?}", many.len()),
        }
    }
}

type Log = Arc<Mutex<Vec<Received>>>;

/// The team's API: answers every request 200 with what it received as JSON, and keeps it.
pub struct Upstream {
    pub address: SocketAddr,
    log: Log,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

#[handler]
fn echo(req: &Request, log: Data<&Log>) -> Json<serde_json::Value> {
    let received = Received {
        method: req.method().to_string(),
        path: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_owned(), v)
            })
            .collect(),
    };
    let echoed = serde_json::json!({
        "method": received.method,
        "path": received.path,
        "headers": received.headers,
    });
    log.0.lock().expect("upstream log").push(received);
    Json(echoed)
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the upstream");
        let address = listener.local_addr().expect("upstream address");
        let log = Log::default();
        let app = poem::Route::new()
            .at("/*", echo)
            .data(log.clone())
            .map_to_response();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(
            Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).expect("acceptor"))
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = rx.await;
                    },
                    None,
                ),
        );
        Upstream {
            address,
            log,
            shutdown: Some(tx),
            server,
        }
    }

    /// Every request the API has received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("upstream log").clone()
    }

    /// The one request the API received since it started; fails on none or more.
    pub fn only(&self) -> Received {
        match self.received().as_slice() {
            [one] => one.clone(),
            all => panic!("the API received {} requests, not one: {all:#?}", all.len()),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.abort();
    }
}

/// spa-auth, the team's API and a proxy in front of both.
pub struct Stack {
    pub app: TestApp,
    pub api: Upstream,
    pub proxy: Proxy,
    /// Talks to the proxy, with spa-auth's cookie name.
    pub via: Api,
}

impl Stack {
    pub async fn start(kind: Kind, db: Db) -> Stack {
        Stack::start_with(kind, db, |_| {}).await
    }

    /// Like [`Stack::start`], with extra or changed spa-auth arguments.
    pub async fn start_with(kind: Kind, db: Db, configure: impl FnOnce(&mut Vec<String>)) -> Stack {
        let app = spawn_app_with(db, |args| {
            args.extend(spa_auth_tests::NO_THROTTLE.map(String::from));
            configure(args);
        })
        .await;
        let api = Upstream::start().await;
        let spa_auth = SocketAddr::from(([127, 0, 0, 1], app.port));
        let proxy = Proxy::start(kind, spa_auth, api.address).await;
        let via = Api {
            address: format!("http://127.0.0.1:{}", proxy.port),
            client: client(Duration::from_secs(30)),
            cookie_name: app.cookie_name.clone(),
        };
        Stack {
            app,
            api,
            proxy,
            via,
        }
    }

    /// The origin a browser on the proxied site sends.
    pub fn origin(&self) -> String {
        self.via.address.clone()
    }

    /// Creates `username` and logs in through the proxy; returns the session token.
    pub async fn logged_in(&self, username: &str) -> String {
        self.app.create_user(username, PASSWORD).await;
        self.via.login_ok(username, PASSWORD).await
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl Stack {
    /// Creates a user with an empty email (Django allows it), able to log in with [`PASSWORD`].
    pub async fn create_user_without_email(&self, username: &str) -> entity::user::Model {
        let hash = self
            .app
            .state
            .passwords
            .hash(&Password::new(PASSWORD))
            .await
            .expect("hashing failed");
        let new = NewUser {
            username: username.into(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
        };
        users::create(&self.app.db, new, Some(hash))
            .await
            .unwrap_or_else(|e| panic!("cannot create user {username}: {e}"))
    }
}

/// A header value with its `%XX` escapes decoded as UTF-8.
pub fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("percent-encoded UTF-8")
}
