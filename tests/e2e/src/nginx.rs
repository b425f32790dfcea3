//! A real nginx (Debian's package), run in the foreground on a loopback port with every file it
//! writes inside the test directory, as the web server acmekeep's users deploy beside it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::testdir::TestDir;
use crate::tool;
use crate::wait;

/// How long nginx may take to listen, or to exit after SIGQUIT.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one nginx serves on its port.
#[derive(Debug, Clone)]
pub enum NginxSite {
    /// Plain HTTP from a document root, as a webroot solver expects.
    Webroot(PathBuf),
    /// TLS with a certificate chain and key read from files (e.g. a files sink's
    /// `fullchain.pem` and `privkey.pem`), serving an empty page.
    Tls {
        /// The PEM chain, leaf first.
        fullchain: PathBuf,
        /// The PEM private key.
        privkey: PathBuf,
    },
}

/// A running nginx master process (and its worker), stopped by pid when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    workdir: PathBuf,
    port: u16,
}

impl Nginx {
    /// Starts nginx serving `site` on `127.0.0.1:port`, with its config, pid file, logs and
    /// temporary paths under `DIR/nginx-<port>/`, and waits until it accepts connections.
    ///
    /// Fails the test if nginx is not installed (`apt-get install nginx`) or does not
    /// come up.
    pub fn start(dir: &TestDir, site: NginxSite, port: u16) -> Nginx {
        let binary = nginx_binary();
        let workdir = dir.path().join(format!("nginx-{port}"));
        fs::create_dir_all(workdir.join("temp")).expect("create the nginx directory");
        let config = workdir.join("nginx.conf");
        fs::write(&config, nginx_config(&workdir, &site, port)).expect("write nginx.conf");
        let child = tool::spawn_logged(
            Command::new(binary)
                .arg("-p")
                .arg(&workdir)
                .arg("-e")
                .arg(workdir.join("error.log"))
                .arg("-c")
                .arg(&config),
            &workdir.join("nginx.log"),
        );
        let mut nginx = Nginx {
            child,
            workdir,
            port,
        };
        wait::until(TIMEOUT, &format!("nginx to listen on {port}"), || {
            wait::alive(&mut nginx.child)?;
            Ok(wait::listening(port))
        })
        .unwrap_or_else(|why| panic!("{why}\n{}", nginx.logs()));
        nginx
    }

    /// The port nginx listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The master process's pid (what `kill -HUP` reloads).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The requests nginx logged, one line each: `STATUS URI`.
    pub fn access_log(&self) -> Vec<String> {
        fs::read_to_string(self.workdir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// nginx's error log and output, for failure reports.
    pub fn logs(&self) -> String {
        ["error.log", "nginx.log", "access.log"]
            .iter()
            .map(|name| {
                format!(
                    "--- {name} ---\n{}",
                    fs::read_to_string(self.workdir.join(name)).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT lets the master stop its workers; SIGKILL would leave them serving.
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(self.pid().to_string())
            .status();
        if wait::until(TIMEOUT, "nginx to exit", || {
            Ok(wait::exited(&mut self.child))
        })
        .is_ok()
        {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nginx` on `PATH`, else Debian's `/usr/sbin/nginx` (not on a non-root `PATH`).
fn nginx_binary() -> PathBuf {
    let debian = Path::new("/usr/sbin/nginx");
    if debian.is_file() {
        debian.to_path_buf()
    } else {
        tool::require("nginx")
    }
}

/// One foreground master with one worker, every path inside `workdir`. As root the worker
/// runs as root too, so it can read the test directory (0700).
fn nginx_config(workdir: &Path, site: &NginxSite, port: u16) -> String {
    let dir = workdir.display();
    let server = match site {
        NginxSite::Webroot(root) => format!(
            "listen 127.0.0.1:{port};\n    root {};\n    default_type text/plain;",
            root.display()
        ),
        NginxSite::Tls { fullchain, privkey } => format!(
            "listen 127.0.0.1:{port} ssl;\n    ssl_certificate {};\n    \
             ssl_certificate_key {};\n    ssl_protocols TLSv1.2 TLSv1.3;\n    \
             location / {{ return 200 \"ok\\n\"; }}",
            fullchain.display(),
            privkey.display()
        ),
    };
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}daemon off;\nmaster_process on;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  log_format short '$status $request_uri';\n  access_log {dir}/access.log short;\n  \
         client_body_temp_path {dir}/temp/body;\n  proxy_temp_path {dir}/temp/proxy;\n  \
         fastcgi_temp_path {dir}/temp/fastcgi;\n  uwsgi_temp_path {dir}/temp/uwsgi;\n  \
         scgi_temp_path {dir}/temp/scgi;\n  server {{\n    {server}\n  }}\n}}\n"
    )
}

/// Whether this test runs as root (nginx then drops its workers to `nobody` unless told).
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}
