//! moto, the AWS API emulator, serving the Route53 API on a free loopback port.
//!
//! moto is a Python package: scripts/test installs it into a venv
//! (`target/e2e-tools/moto-venv`, or `$MOTO_VENV`); this module only starts it. The helpers
//! that create zones and read record sets talk to moto's REST API with curl, so what the
//! tests observe does not go through the AWS SDK the provider under test uses.
//!
//! moto differs from real Route53 (see /work/shared/testbed.md): it accepts any
//! credentials, every change is INSYNC at once, CREATE of an existing set duplicates it and
//! DELETE of a missing set succeeds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::port::free_port;
use crate::testdir::{TestDir, tail};
use crate::tool;
use crate::wait;

/// The environment variable naming the venv that holds moto, when it is not the default
/// `target/e2e-tools/moto-venv` of this workspace.
const VENV_ENV: &str = "MOTO_VENV";

/// How long moto may take to import and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often it is started on fresh ports when it exits right away (a port was taken).
const START_ATTEMPTS: u32 = 3;

/// The Route53 API version prefix of every path.
const API: &str = "2013-04-01";

/// moto picks the emulated service from the credential scope of the Authorization header
/// (it checks no signature); without one it answers as S3.
const ROUTE53_AUTH: &str = "Authorization: AWS4-HMAC-SHA256 \
    Credential=testing/20260101/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0";

/// One TXT record set as moto holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MotoTxtSet {
    /// Its TTL in seconds.
    pub ttl: u32,
    /// Its values as stored, with their quotes (`"abc"`).
    pub values: Vec<String>,
}

/// A running moto server, killed and reaped on drop. Its log (one line per request) is
/// `DIR/moto/moto.log`.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    workdir: PathBuf,
    endpoint_url: String,
}

impl Moto {
    /// Starts moto with its log under `DIR/moto/` and waits until it answers.
    ///
    /// Fails the test if the venv is missing (with the command that creates it) or the
    /// server does not come up.
    pub fn start(dir: &TestDir) -> Moto {
        let server = venv_dir().join("bin").join("moto_server");
        if !server.is_file() {
            panic!(
                "moto is not installed: no {} (run scripts/test, which creates the venv and \
                 pip-installs moto[server]; or point {VENV_ENV} at a venv that has it)",
                server.display()
            );
        }
        let workdir = dir.path().join("moto");
        fs::create_dir_all(&workdir).expect("create the moto directory");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Moto::try_start(&server, &workdir, free_port()) {
                Ok(moto) => return moto,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("moto did not start:\n{}", failures.join("\n\n"))
    }

    fn try_start(server: &Path, workdir: &Path, port: u16) -> Result<Moto, String> {
        let child = tool::spawn_logged(
            Command::new(server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(workdir)
                .env("PYTHONUNBUFFERED", "1"),
            &workdir.join("moto.log"),
        );
        let mut moto = Moto {
            child,
            workdir: workdir.to_path_buf(),
            endpoint_url: format!("http://127.0.0.1:{port}"),
        };
        wait::until(START_TIMEOUT, &format!("moto to listen on {port}"), || {
            wait::alive(&mut moto.child)?;
            Ok(wait::listening(port))
        })
        .map_err(|why| format!("{why}\n{}", moto.log_tail()))?;
        Ok(moto)
    }

    /// The endpoint to give the SDK, `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// Creates a public hosted zone named `name` (no trailing dot) and returns its id
    /// (without `/hostedzone/`).
    pub fn create_hosted_zone(&self, name: &str) -> String {
        self.create_zone(name, "")
    }

    /// Creates a private hosted zone named `name`, attached to a made-up VPC, and returns
    /// its id.
    pub fn create_private_hosted_zone(&self, name: &str) -> String {
        self.create_zone(
            name,
            "<VPC><VPCRegion>us-east-1</VPCRegion><VPCId>vpc-0acmekeep</VPCId></VPC>\
             <HostedZoneConfig><PrivateZone>true</PrivateZone></HostedZoneConfig>",
        )
    }

    fn create_zone(&self, name: &str, vpc: &str) -> String {
        let reference = format!("acmekeep-{name}-{}", free_port());
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/{API}/\">\
             <Name>{name}.</Name><CallerReference>{reference}</CallerReference>{vpc}\
             </CreateHostedZoneRequest>"
        );
        let answer = self.curl(
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: text/xml",
                "--data-binary",
                &body,
            ],
            "hostedzone",
        );
        let id = elements(&answer, "Id")
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("moto's CreateHostedZone answer has no Id:\n{answer}"));
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// The TXT record set named exactly `name` (no trailing dot) in the hosted zone, if any,
    /// read with ListResourceRecordSets.
    pub fn txt_set(&self, zone_id: &str, name: &str) -> Option<MotoTxtSet> {
        let answer = self.curl(&[], &format!("hostedzone/{zone_id}/rrset"));
        let mut found = None;
        for set in elements(&answer, "ResourceRecordSet") {
            let is_it = elements(&set, "Name")
                .first()
                .map(|n| n.trim_end_matches('.'))
                == Some(name)
                && elements(&set, "Type").first().map(String::as_str) == Some("TXT");
            if !is_it {
                continue;
            }
            assert!(
                found.is_none(),
                "moto holds two TXT sets named {name} (a CREATE duplicated one):\n{answer}"
            );
            let ttl = elements(&set, "TTL")
                .first()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("TXT set {name} without a TTL:\n{answer}"));
            found = Some(MotoTxtSet {
                ttl,
                values: elements(&set, "Value"),
            });
        }
        found
    }

    /// How many requests moto received whose request line contains `needle`, e.g.
    /// `GET /2013-04-01/change/`: proof of what a client called.
    pub fn requests_matching(&self, needle: &str) -> usize {
        fs::read_to_string(self.workdir.join("moto.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// The last lines of moto's log.
    pub fn log_tail(&self) -> String {
        tail(&self.workdir.join("moto.log"))
    }

    /// Sends one request to `/2013-04-01/PATH` with curl and returns the answer's body;
    /// fails the test on an HTTP error.
    fn curl(&self, args: &[&str], path: &str) -> String {
        let url = format!("{}/{API}/{path}", self.endpoint_url);
        let mut all = vec![
            "--silent",
            "--show-error",
            "--fail-with-body",
            "-H",
            ROUTE53_AUTH,
        ];
        all.extend_from_slice(args);
        all.push(&url);
        let output = tool::output("curl", &all);
        let body = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "curl {} failed ({}): {}{body}\n{}",
            tool::join_args(&all),
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
        body
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Already exited is fine: the point is that nothing outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv holding moto: `$MOTO_VENV`, else `target/e2e-tools/moto-venv` in this workspace
/// (where scripts/test creates it).
fn venv_dir() -> PathBuf {
    std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-tools/moto-venv")
        })
}

/// The text of every `<tag>…</tag>` element in `xml`, entities decoded: enough XML for the
/// Route53 answers, which have no attributes on these elements and no CDATA.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(
            after[..end]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    found
}
