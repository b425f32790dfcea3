//! Fault injection: a seeded random source for kill moments, runs of the binary killed with
//! SIGKILL, a crash-consistency check of a files sink, small and read-only filesystems, a
//! DNS server outage, and a static web server for HTTP-01 webroot mode.
//!
//! Every random choice of a scenario comes from a [`FaultRng`], whose seed is printed when the
//! scenario starts; `ACMEKEEP_FAULT_SEED=<seed>` replays the same kill moments.
//!
//! Mounting filesystems needs root, as the tests run in CI.

use std::fs::{self, File};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::bind::Bind;
use crate::sink::SinkDir;
use crate::testdir::{TestDir, acmekeep_binary, tail};
use crate::tool;
use crate::wait;

/// The environment variable that fixes the seed of every [`FaultRng`].
pub const FAULT_SEED_ENV: &str = "ACMEKEEP_FAULT_SEED";

/// How long a restarted named may take to serve its zones.
const NAMED_START_TIMEOUT: Duration = Duration::from_secs(15);

/// A small, seeded pseudo-random source (SplitMix64): the same seed gives the same draws.
#[derive(Debug, Clone)]
pub struct FaultRng {
    seed: u64,
    state: u64,
}

impl FaultRng {
    /// A source for `scenario`, seeded from `ACMEKEEP_FAULT_SEED` or else the clock. Prints
    /// the seed and how to replay it; each scenario mixes its name into the seed, so the
    /// scenarios of one run draw different moments from one printed seed.
    pub fn for_scenario(scenario: &str) -> FaultRng {
        let seed = match std::env::var(FAULT_SEED_ENV) {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{FAULT_SEED_ENV}={text:?} is not an unsigned integer")),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos() as u64,
        };
        eprintln!("{scenario}: fault seed {seed} (replay with {FAULT_SEED_ENV}={seed})");
        let name_hash = scenario
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        FaultRng {
            seed,
            state: seed ^ name_hash,
        }
    }

    /// The seed, as printed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration drawn uniformly from `[0, max)`, to the microsecond.
    pub fn below(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next_u64() % micros)
    }
}

/// How a run that was to be killed ended.
#[derive(Debug)]
pub struct KilledRun {
    /// The exit status: killed by SIGKILL, or its own exit when it finished first.
    pub status: ExitStatus,
    /// Whether the SIGKILL was sent (false: it finished before the delay ran out).
    pub killed: bool,
    /// Its standard error up to the kill.
    pub stderr: String,
}

impl TestDir {
    /// Runs `acmekeep --config <config_path> ARGS…` and sends it SIGKILL `delay` after
    /// starting it, unless it exits first.
    pub fn acmekeep_killed_after(&self, args: &[&str], delay: Duration) -> KilledRun {
        let binary = acmekeep_binary();
        let mut n = 1;
        while self.path().join(format!("killed-{n}.stderr")).exists() {
            n += 1;
        }
        let stderr_path = self.path().join(format!("killed-{n}.stderr"));
        let mut child = Command::new(&binary)
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .current_dir(self.path())
            .env_remove("ACMEKEEP_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).expect("create the stderr file"))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        let deadline = Instant::now() + delay;
        let (status, killed) = loop {
            if let Some(status) = child.try_wait().expect("wait for acmekeep") {
                break (status, false);
            }
            let now = Instant::now();
            if now >= deadline {
                // SIGKILL; if it exited just now, wait() below reaps it all the same.
                let _ = child.kill();
                break (child.wait().expect("reap the killed acmekeep"), true);
            }
            sleep((deadline - now).min(Duration::from_millis(2)));
        };
        KilledRun {
            status,
            killed,
            stderr: String::from_utf8_lossy(&fs::read(&stderr_path).unwrap_or_default())
                .into_owned(),
        }
    }
}

/// The stable names a files sink links through `..data`; `ca.pem` only when the issuer
/// knows its CA.
const STABLE_NAMES: [&str; 4] = ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"];

/// What a crash left in a files sink.
#[derive(Debug, PartialEq, Eq)]
pub enum SinkState {
    /// No `..data`: nothing was ever deployed there.
    Empty,
    /// `..data` points at a complete version whose certificate has this serial.
    Deployed(String),
}

/// Checks that `sink` serves a certificate and key that belong together, whatever moment a
/// crash hit it: `..data` is absent or points at a complete version directory (certificate,
/// chain, full chain and a matching key, checked with openssl), and every stable name that
/// exists is the symlink `..data/<name>` and resolves. With `fully_linked`, every stable
/// name must exist, as after a completed run.
pub fn assert_crash_consistent(sink: &SinkDir, fully_linked: bool) -> SinkState {
    let dir = sink.path();
    let data = dir.join("..data");
    let link = match fs::read_link(&data) {
        Ok(link) => link,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !fully_linked,
                "{}: no ..data after a completed run\n{}",
                dir.display(),
                listing(dir)
            );
            return SinkState::Empty;
        }
        Err(err) => panic!("{}: {err}\n{}", data.display(), listing(dir)),
    };
    let version = dir.join(&link);
    assert!(
        link.components().count() == 1 && version.is_dir(),
        "{} -> {} is not a version directory inside the sink\n{}",
        data.display(),
        link.display(),
        listing(dir)
    );
    let version_sink = SinkDir::new(version.clone());
    for name in STABLE_NAMES {
        assert!(
            version.join(name).is_file(),
            "the current version {} lacks {name}: a torn version was published\n{}",
            version.display(),
            listing(dir)
        );
    }
    version_sink.assert_key_matches_cert();
    version_sink.assert_fullchain_starts_with_cert();
    let has_ca = version.join("ca.pem").is_file();
    for name in STABLE_NAMES
        .iter()
        .copied()
        .chain(has_ca.then_some("ca.pem"))
    {
        let path = dir.join(name);
        match fs::read_link(&path) {
            Ok(target) => {
                assert_eq!(
                    target,
                    Path::new("..data").join(name),
                    "{} must point through ..data\n{}",
                    path.display(),
                    listing(dir)
                );
                let served = fs::read(&path)
                    .unwrap_or_else(|err| panic!("{} does not resolve: {err}", path.display()));
                assert_eq!(
                    served,
                    fs::read(version.join(name)).expect("read the version's file"),
                    "{} does not serve the current version",
                    path.display()
                );
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !fully_linked => {}
            Err(err) => panic!(
                "stable name {}: {err} (consumers read this path)\n{}",
                path.display(),
                listing(dir)
            ),
        }
    }
    SinkState::Deployed(version_sink.serial())
}

/// `ls -la` of a directory, for failure messages.
fn listing(dir: &Path) -> String {
    String::from_utf8_lossy(&tool::output("ls", &[Path::new("-la"), dir]).stdout).into_owned()
}

/// A filesystem mounted by a test (a tmpfs, or a read-only bind mount), unmounted on drop.
#[derive(Debug)]
pub struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (`"64k"`, `"1m"`) on the directory `path` (created if missing).
    pub fn tmpfs(path: &Path, size: &str) -> Mount {
        require_root("mounts a tmpfs to cause real ENOSPC and EROFS failures");
        fs::create_dir_all(path).expect("create the mount point");
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0755"),
            "tmpfs",
            &path.to_string_lossy(),
        ]);
        Mount {
            path: path.to_path_buf(),
        }
    }

    /// Bind-mounts the directory `path` onto itself read-only: writes fail with EROFS even
    /// for root, which permission bits do not stop.
    pub fn read_only_bind(path: &Path) -> Mount {
        require_root("bind-mounts a directory read-only");
        let target = path.to_string_lossy();
        mount(&["--bind", &target, &target]);
        let mounted = Mount {
            path: path.to_path_buf(),
        };
        mount(&["-o", "remount,bind,ro", &target]);
        mounted
    }

    /// Remounts this filesystem read-only.
    pub fn remount_read_only(&self) {
        mount(&["-o", "remount,ro", &self.path.to_string_lossy()]);
    }

    /// Bytes still free for files on this filesystem (`df`).
    pub fn free_bytes(&self) -> u64 {
        let out = tool::stdout(
            "df",
            &["--output=avail", "-B1", &self.path.to_string_lossy()],
        );
        out.lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("cannot read the free space from df:\n{out}"))
    }

    /// Fills the filesystem with `DIR/filler` until only `leave` bytes are free.
    pub fn fill_leaving(&self, leave: u64) {
        let free = self.free_bytes();
        let size = free.saturating_sub(leave);
        fs::write(self.path.join("filler"), vec![0u8; size as usize]).unwrap_or_else(|err| {
            panic!(
                "fill {} with {size} of {free} free bytes: {err}",
                self.path.display()
            )
        });
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn require_root(why: &str) {
    assert!(
        tool::stdout("id", &["-u"]).trim() == "0",
        "this test needs root: it {why}"
    );
}

fn mount(args: &[&str]) {
    let output = tool::output("mount", args);
    assert!(
        output.status.success(),
        "mount {} failed:\n{}",
        tool::join_args(args),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A named that was stopped and started again on the same port with the same zones, files
/// and journal (so the dynamic updates it had accepted are served again); killed on drop.
#[derive(Debug)]
pub struct RestartedNamed {
    child: Child,
}

/// Stops the named of `bind` (started in the test directory `dir`) with SIGTERM and waits
/// until its port is closed: the DNS server is down.
pub fn stop_named(dir: &Path, bind: &Bind) {
    let pid_file = dir.join("bind").join("named.pid");
    let pid = fs::read_to_string(&pid_file)
        .unwrap_or_else(|err| panic!("read {}: {err}", pid_file.display()));
    let pid = pid.trim();
    let status = Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid} (named) failed");
    let what = format!(
        "named to stop listening on {} after SIGTERM",
        bind.address()
    );
    wait::until(Duration::from_secs(10), &what, || {
        Ok(TcpStream::connect(bind.address()).is_err())
    })
    .unwrap_or_else(|why| panic!("{why}"));
}

/// Starts named again from the configuration [`Bind::start`] wrote in the test directory
/// `dir`, on the same address as `bind`, and waits until it serves `zone` again.
pub fn restart_named(dir: &Path, bind: &Bind, zone: &str) -> RestartedNamed {
    let workdir = dir.join("bind");
    let as_root = tool::stdout("id", &["-u"]).trim() == "0";
    let mut command = if as_root {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
        command.arg("/usr/sbin/named");
        command
    } else {
        Command::new("/usr/sbin/named")
    };
    let child = tool::spawn_logged(
        command.arg("-g").arg("-c").arg(workdir.join("named.conf")),
        &workdir.join("named-restarted.log"),
    );
    let mut restarted = RestartedNamed { child };
    let port = bind.port().to_string();
    let what = format!("the restarted named to serve {zone} on {port}");
    wait::until(NAMED_START_TIMEOUT, &what, || {
        wait::alive(&mut restarted.child)
            .map_err(|why| format!("{why}; was port {port} taken meanwhile?"))?;
        Ok(bind.serves(zone))
    })
    .unwrap_or_else(|why| panic!("{why}\n{}", tail(&workdir.join("named-restarted.log"))));
    restarted
}

impl Drop for RestartedNamed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A static web server (`python3 -m http.server`) serving a webroot on a loopback port, as
/// the web server an HTTP-01 `webroot` solver writes for; killed on drop.
#[derive(Debug)]
pub struct WebrootServer {
    child: Child,
}

impl WebrootServer {
    /// Serves `root` on `127.0.0.1:port`, logging to `DIR/webroot-server.log`.
    pub fn start(dir: &TestDir, root: &Path, port: u16) -> WebrootServer {
        tool::require("python3");
        fs::create_dir_all(root).expect("create the webroot");
        let child = tool::spawn_logged(
            Command::new("python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
                .arg(root)
                .arg(port.to_string()),
            &dir.path().join("webroot-server.log"),
        );
        let mut server = WebrootServer { child };
        let what = format!("python3 -m http.server to listen on {port}");
        wait::until(Duration::from_secs(10), &what, || {
            wait::alive(&mut server.child)?;
            Ok(wait::listening(port))
        })
        .unwrap_or_else(|why| panic!("{why}\n{}", tail(&dir.path().join("webroot-server.log"))));
        server
    }
}

impl Drop for WebrootServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
