//! A `zentinel run` process serving a policy compiled by `zenc`, in a
//! directory of its own that holds its artifact and its logs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::client::get;
use super::free_port;
use super::raw::Response;

/// A `zentinel run` process serving a policy.
pub struct Proxy {
    child: Child,
    pub port: u16,
    pub admin: u16,
    pub dir: PathBuf,
}

impl Proxy {
    /// Compiles `body` (everything but `listen` and `admin`, which are
    /// added on free ports) and serves it.
    pub fn start(body: &str) -> Proxy {
        Self::start_with(body, &[])
    }

    pub fn start_with(body: &str, extra_args: &[&str]) -> Proxy {
        Self::start_with_env(body, extra_args, &[])
    }

    /// As `start_with`, with environment variables for the process.
    pub fn start_with_env(body: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let dir = fresh_dir();
        let port = free_port();
        let admin = free_port();
        let policy = format!("listen \"127.0.0.1:{port}\"\nadmin \"127.0.0.1:{admin}\"\n{body}");
        compile_to(&dir, &policy, "site.zbin");
        Self::serve(dir, port, admin, extra_args, env)
    }

    /// Serves `dir/site.zbin`, which listens on `port` with its admin
    /// listener on `admin`.
    pub fn serve(dir: PathBuf, port: u16, admin: u16, extra_args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let child = Command::new(env!("CARGO_BIN_EXE_zentinel"))
            .args(["run", "site.zbin", "--grace-period", "2"])
            .args(["--upgrade-sock", dir.join("upgrade.sock").to_str().unwrap()])
            .args(if extra_args.contains(&"--access-log") {
                Vec::new()
            } else {
                vec!["--access-log".to_string(), dir.join("access.log").display().to_string()]
            })
            .args(if extra_args.contains(&"--threads") {
                &[][..]
            } else {
                &["--threads", "2"][..]
            })
            .args(extra_args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap()))
            .spawn()
            .expect("zentinel starts");
        let proxy = Proxy {
            child,
            port,
            admin,
            dir,
        };
        proxy.wait_ready();
        proxy
    }

    /// Starts a process with `--upgrade` that takes over `old`'s sockets
    /// (its listeners and upgrade socket), serving `body`.
    pub fn start_upgrade(old: &Proxy, body: &str) -> Proxy {
        let dir = fresh_dir();
        let policy = format!(
            "listen \"127.0.0.1:{}\"\nadmin \"127.0.0.1:{}\"\n{body}",
            old.port, old.admin
        );
        compile_to(&dir, &policy, "site.zbin");
        let child = Command::new(env!("CARGO_BIN_EXE_zentinel"))
            .args(["run", "site.zbin", "--threads", "2", "--grace-period", "2", "--upgrade"])
            .args(["--upgrade-sock", old.dir.join("upgrade.sock").to_str().unwrap()])
            .args(["--access-log", dir.join("access.log").to_str().unwrap()])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap()))
            .spawn()
            .expect("zentinel starts");
        Proxy {
            child,
            port: old.port,
            admin: old.admin,
            dir,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.admin)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("zentinel did not start: {}", self.stderr());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The access log lines, parsed.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }

    pub fn get(&self, target: &str) -> Response {
        get(self.port, target)
    }

    pub fn metrics(&self) -> String {
        get(self.admin, "/metrics").text()
    }

    /// Replaces the artifact the way `zenc build` does (write, then
    /// rename) with `policy`'s, keeping this proxy's listeners.
    pub fn replace_policy(&self, body: &str) {
        let policy = format!(
            "listen \"127.0.0.1:{}\"\nadmin \"127.0.0.1:{}\"\n{body}",
            self.port, self.admin
        );
        compile_to(&self.dir, &policy, "next.zbin");
        std::fs::rename(self.dir.join("next.zbin"), self.dir.join("site.zbin")).unwrap();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// An empty directory for one process, named after this test process and
/// a counter: processes started by tests that run at once never share one.
fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "zentinel-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles a policy with zenc into `dir/name`.
pub fn compile_to(dir: &Path, policy: &str, name: &str) {
    let source = dir.join("site.zen");
    std::fs::write(&source, policy).unwrap();
    let compilation = zenc::check_path(&source).unwrap();
    let errors: Vec<String> = compilation.diagnostics.iter().map(|d| d.message.clone()).collect();
    let artifact = compilation
        .artifact()
        .unwrap_or_else(|| panic!("policy does not compile: {errors:?}\n{policy}"));
    std::fs::write(dir.join(name), artifact).unwrap();
}
