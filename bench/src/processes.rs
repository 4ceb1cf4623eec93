//! Child processes on loopback: the moto server and `outbox-local`, each logging to a file,
//! killed (SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace_root;

/// A moto server on a free loopback port; it also exits by itself when this process dies
/// (`--until-stdin-closes` on a pipe we hold).
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    pub fn start(log: &Path) -> Result<Moto, String> {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        let mut child = Command::new(&python)
            .arg(root.join("scripts/moto_server.py"))
            .args(["--port", "0", "--until-stdin-closes"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file(log)?)
            .spawn()
            .map_err(|err| format!("could not start moto with {} (run `make venv`): {err}", python.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("moto's stdout is not piped")?;
        BufReader::new(stdout).read_line(&mut line).map_err(|err| format!("moto did not print its port: {err}"))?;
        let port: u16 =
            line.trim().parse().map_err(|_| format!("moto did not print a port ({line:?}); see {}", log.display()))?;
        Ok(Moto { endpoint: format!("http://127.0.0.1:{port}"), child })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|err| format!("cannot open {}: {err}", path.display()))
}

/// How to start one `outbox-local` (or other) process: binary, arguments and environment.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl ServiceSpec {
    /// The command, with every inherited `OUTBOX_*` variable removed (an `OUTBOX_TABLE` in the
    /// caller's shell must not point a soak at a deployment) and `env` set.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(&self.args);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OUTBOX_") || name == "AWS_ENDPOINT_URL")
        {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    pub fn spawn(&self) -> Result<Service, String> {
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log_file(&self.log)?)
            .stderr(log_file(&self.log)?)
            .spawn()
            .map_err(|err| format!("could not start {}: {err}", self.binary.display()))?;
        Ok(Service { child })
    }
}

/// An environment for `ServiceSpec` from literal pairs.
pub fn env_vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

/// A running child process; SIGKILLed when dropped.
pub struct Service {
    child: Child,
}

impl Service {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `Some(status)` once it has exited by itself.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port (free when asked; good enough on a machine that is not racing us for ports).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("no free loopback port: {err}"))
}

/// Waits until `GET {base}/health` answers 200, or the service exits, or `timeout` passes.
pub async fn wait_healthy(
    http: &reqwest::Client,
    base: &str,
    service: &mut Service,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(response) = http.get(format!("{base}/health")).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if let Some(status) = service.exited() {
            return Err(format!("the API process exited ({status}) before it was healthy"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{base}/health did not answer 200 within {} s", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `VmHWM` (peak) and `VmRSS` (current) of a process, in bytes, from /proc.
pub fn memory_of(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|err| format!("cannot read /proc/{pid}/status: {err}"))?;
    let field = |name: &str| -> Result<u64, String> {
        let line =
            status.lines().find(|line| line.starts_with(name)).ok_or(format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or(format!("bad {line:?}"))?;
        Ok(kib * 1024)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}
