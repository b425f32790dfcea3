//! End-to-end test harness: runs the real `acmekeep` binary against real servers.
//!
//! Every test gets its own [`TestDir`] (a temporary directory holding the config, the state
//! directory, the sinks and the server logs) and, when it needs a CA, its own [`Pebble`]
//! (pebble plus pebble-challtestsrv as mock DNS, on free loopback ports, stopped by pid when
//! dropped). Tests of ACME extensions pebble lacks (renewal information, profiles,
//! `replaces`) use an [`Acme2certifier`] instead. DNS-01 runs against a real [`Bind`], a
//! real [`PowerDns`] and [`Moto`] (the Route53 API), and a [`CloudflareFake`] where no real
//! server can be had; the Venafi issuer runs against a [`VenafiFake`] of the TPP API. The Vault issuer (and a
//! second ACME server) run against a real [`OpenBao`]. The Kubernetes sink and leader election run against a
//! [`KubeFake`] API server, as no real one can be installed. A real [`Nginx`] serves a webroot
//! to the CA, or a files sink's certificate to TLS clients, as it does beside acmekeep in production.
//! [`Config`] writes the TOML for the usual shape (one ACME issuer, one http-01 solver, some
//! certificates); [`TestDir::acmekeep`] runs the binary with a timeout
//! and returns a [`Run`] whose assertions print the command, its output and the tail of
//! every server log when they fail. [`SinkDir`] inspects what the files sink delivered, with
//! the `openssl` command line tool, so the checks do not share code with the program under
//! test.
//! Every launcher waits for its server with [`wait::until`], so a server that never comes up
//! fails the test with what was awaited and the server's log.
//!
//! What it does not do: it does not build the binary (run `scripts/test`, or
//! `cargo build -p acmekeep` before `cargo test -p e2e`; `ACMEKEEP_BIN` points elsewhere),
//! and it does not install servers. A missing `pebble` or acme2certifier venv fails the test
//! with the command that installs it; nothing is skipped.
//!
//! This is test support code: it panics with a readable message instead of returning errors,
//! the way a failing assertion does.
//!
//! ```no_run
//! use e2e::{Config, Pebble, PebbleOptions, TestDir};
//!
//! let dir = TestDir::new();
//! let pebble = Pebble::start(&dir, PebbleOptions::default());
//! dir.write_config(&Config::for_pebble(&dir, &pebble).certificate("web", &["web.example.test"]).to_toml());
//! dir.acmekeep(&["--issue"]).assert_success();
//! assert_eq!(dir.sink("web").dns_names(), ["web.example.test"]);
//! ```

mod acme2certifier;
mod bind;
mod cloudflare_fake;
mod config;
mod daemon;
mod dig;
pub mod dns_contract;
mod fake_server;
mod fault_proxy;
mod faults;
mod kube_fake;
mod moto;
mod nginx;
mod openbao;
mod pebble;
mod port;
mod powerdns;
mod sink;
mod testdir;
mod tls_server;
mod tool;
mod venafi_fake;
pub mod wait;

pub use acme2certifier::{Acme2certifier, RenewalWindowRule};
pub use bind::{BIND_KEY, BIND_UNAUTHORIZED_KEY, Bind, BindZone};
pub use cloudflare_fake::{CloudflareFake, FakeRecord};
pub use config::Config;
pub use daemon::Daemon;
pub use dig::dig_txt;
pub use fault_proxy::{FaultProxy, Refusal};
pub use faults::{
    FAULT_SEED_ENV, FaultRng, KilledRun, Mount, RestartedNamed, SinkState, WebrootServer,
    assert_crash_consistent, restart_named, stop_named,
};
pub use kube_fake::{KubeFake, KubeRequest};
pub use moto::{Moto, MotoTxtSet};
pub use nginx::{Nginx, NginxSite};
pub use openbao::{FixedPortLock, OpenBao, OpenBaoAppRole};
pub use pebble::{Pebble, PebbleOptions};
pub use port::free_port;
pub use powerdns::PowerDns;
pub use sink::{SinkDir, unix_seconds};
pub use testdir::{Run, TestDir};
pub use tls_server::TlsServer;
pub use venafi_fake::{FakeVenafiRequest, VENAFI_CLIENT_ID, VENAFI_ZONE, VenafiFake};
