//! The embedded AWS emulator: moto, installed into `.venv/` by the Makefile,
//! run as a child that cannot outlive us, through a launcher
//! (`emulator.py`) that serialises requests so conditional writes and
//! transactions are atomic, as in DynamoDB.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EmulatorError {
    #[error("moto's Python not found (looked at {0}); run `make deps` to install it into .venv/")]
    NotInstalled(String),
    #[error("cannot start moto_server: {0}")]
    Spawn(std::io::Error),
    #[error("moto_server exited during start-up ({0}); is port {1} taken?")]
    Exited(String, u16),
    #[error("moto_server did not answer on port {0} within {1:?}")]
    Timeout(u16, Duration),
}

pub struct Emulator {
    child: Child,
    pub port: u16,
}

impl Emulator {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts moto on 127.0.0.1:`port` with the given Python (the one moto
    /// is installed in) and waits until it answers.
    ///
    /// The emulator is killed when the *thread* that calls this exits, not
    /// only the process: call it from a thread that lives as long as the
    /// emulator should (the main thread; never `spawn_blocking`).
    pub fn start(python: &Path, port: u16) -> Result<Self, EmulatorError> {
        if !python.exists() {
            return Err(EmulatorError::NotInstalled(python.display().to_string()));
        }
        let mut cmd = Command::new(python);
        cmd.args(["-c", LAUNCHER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; it only asks the kernel to
            // kill the child when the thread that spawned it dies, so no
            // emulator is left behind even when we are SIGKILLed.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(EmulatorError::Spawn)?;
        let mut emulator = Self { child, port };
        emulator.wait_until_up(Duration::from_secs(60))?;
        Ok(emulator)
    }

    fn wait_until_up(&mut self, limit: Duration) -> Result<(), EmulatorError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(EmulatorError::Exited(status.to_string(), self.port));
            }
            if http_ok(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(EmulatorError::Timeout(self.port, limit));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto answers `GET /moto-api/` once its server is up.
fn http_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

const LAUNCHER: &str = include_str!("emulator.py");

/// The Python that `make deps` installs moto into; `SKYCAST_MOTO_PYTHON` overrides.
pub fn default_python(project_root: &Path) -> PathBuf {
    std::env::var_os("SKYCAST_MOTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| project_root.join(".venv/bin/python"))
}

/// A port that was free a moment ago, for tests that need their own emulator.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
