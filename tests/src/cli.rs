//! The real `spa-auth` binary, for tests of its commands and for running it as a process.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

/// Where `cargo build --bins` put the `spa-auth` binary of this workspace.
///
/// Cargo resolves a relative `CARGO_TARGET_DIR` against the directory it runs in, which is the
/// workspace root (the README's commands run there), while a test runs in its package's
/// directory: so a relative one is taken from the workspace root, not from the test's cwd.
pub fn spa_auth_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lies inside the workspace");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    target.join("debug").join("spa-auth")
}

/// The port a `spa-auth serve` child (started with piped standard error) says it listens on.
pub async fn announced_port(child: &mut std::process::Child) -> u16 {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("standard error is piped");
    tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("listening on http://localhost:")?
                    .1
                    .trim()
                    .parse::<u16>()
                    .ok()
            })
    })
    .await
    .expect("the reader does not panic")
    .expect("spa-auth did not say where it listens")
}

/// A command for the binary, with no `SPA_AUTH_*` or `DATABASE_URL` leaking in from the
/// environment of whoever runs the tests.
pub fn command() -> Command {
    let bin = spa_auth_binary();
    assert!(
        bin.exists(),
        "{} does not exist: build it first (cargo build --workspace --bins)",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    without_our_environment(&mut cmd);
    cmd
}

fn without_our_environment(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("SPA_AUTH_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
}

/// Runs `spa-auth ARGS...` at a terminal (a pseudo-terminal made by util-linux's `script`),
/// typing `answers` one by one as it prompts (`...: `); returns whether it succeeded and
/// everything the terminal showed, so a test can see what was echoed.
pub async fn cli_at_a_terminal(args: &[&str], answers: &[&str]) -> (bool, String) {
    use std::io::Read;
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(spa_auth_binary().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    without_our_environment(&mut cmd);
    let mut answers: Vec<String> = answers.iter().rev().map(|a| format!("{a}\n")).collect();
    let run = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("cannot run script (util-linux)");
        let mut input = child.stdin.take().expect("stdin is piped");
        let mut output = child.stdout.take().expect("stdout is piped");
        let mut shown = Vec::new();
        let mut byte = [0u8; 1];
        while output.read(&mut byte).unwrap_or(0) == 1 {
            shown.push(byte[0]);
            if shown.ends_with(b": ")
                && let Some(answer) = answers.pop()
            {
                // As a person would, a moment after the prompt: a program turns echo off
                // only once its prompt is out, and what arrives before that is echoed.
                std::thread::sleep(Duration::from_millis(300));
                input.write_all(answer.as_bytes()).expect("cannot type");
            }
        }
        drop(input);
        let ok = child.wait().expect("script did not end").success();
        (ok, String::from_utf8_lossy(&shown).into_owned())
    });
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("spa-auth at a terminal did not finish within 30 s")
        .expect("the terminal task panicked")
}

/// Runs `spa-auth ARGS...` to completion, with `stdin` as its standard input (none: empty).
pub async fn cli(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = command();
    cmd.args(args);
    run(cmd, stdin).await
}

/// Runs `spa-auth ARGS...` to completion in `dir`, with these environment variables (and no
/// others of spa-auth's, see [`command`]) and an empty standard input.
pub async fn cli_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    cli_in_with(dir, env, args, None).await
}

/// [`cli_in`] with `stdin` as the standard input.
pub async fn cli_in_with(
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = command();
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, stdin).await
}

/// Runs a command of the binary to completion, off the runtime's workers.
async fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.map(str::to_owned);
    // Blocking, so off the runtime's workers: the service under test may share them.
    let run = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn()?;
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes())?;
        }
        drop(input);
        child.wait_with_output()
    });
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| panic!("spa-auth {args:?} did not finish within 30 s"))
        .expect("the CLI task panicked")
        .expect("cannot run spa-auth")
}

/// Runs the CLI and insists that it succeeds.
pub async fn cli_ok(args: &[&str], stdin: Option<&str>) -> Output {
    let out = cli(args, stdin).await;
    assert!(
        out.status.success(),
        "spa-auth {args:?} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
