//! What a files sink delivered, inspected with the `openssl` command line tool.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::tool;

/// A files sink directory: `cert.pem`, `chain.pem`, `fullchain.pem`, `privkey.pem`.
#[derive(Debug, Clone)]
pub struct SinkDir {
    path: PathBuf,
}

impl SinkDir {
    /// Wraps the sink directory at `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> SinkDir {
        SinkDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of file `name` in the directory (`"cert.pem"`, `"..data"`, …).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Whether nothing was delivered: the directory is missing or empty.
    pub fn is_empty(&self) -> bool {
        fs::read_dir(&self.path).map_or(true, |mut entries| entries.next().is_none())
    }

    /// The bytes of `cert.pem`.
    pub fn cert_pem(&self) -> Vec<u8> {
        let path = self.file("cert.pem");
        fs::read(&path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
    }

    /// The certificate's serial number in upper-case hex, as openssl prints it.
    pub fn serial(&self) -> String {
        let out = self.x509(&["-noout", "-serial"]);
        out.trim().trim_start_matches("serial=").to_string()
    }

    /// The certificate's notAfter as Unix seconds (via `openssl x509 -enddate`).
    pub fn not_after_unix(&self) -> i64 {
        let out = self.x509(&["-noout", "-enddate"]);
        unix_seconds(out.trim().trim_start_matches("notAfter="))
    }

    /// The DNS names in the certificate's subjectAltName, sorted.
    pub fn dns_names(&self) -> Vec<String> {
        let out = self.x509(&["-noout", "-ext", "subjectAltName"]);
        let mut names: Vec<String> = out
            .lines()
            .skip(1)
            .flat_map(|line| line.split(','))
            .filter_map(|entry| entry.trim().strip_prefix("DNS:"))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// `openssl x509 -noout -text` of the certificate (shows the key algorithm and size).
    pub fn cert_text(&self) -> String {
        self.x509(&["-noout", "-text"])
    }

    /// The RFC 9773 identifier of the certificate, computed from `openssl x509` output:
    /// base64url of the Authority Key Identifier, a dot, base64url of the DER serial.
    pub fn ari_certificate_id(&self) -> String {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let text = self.cert_text();
        let aki = text
            .lines()
            .skip_while(|line| !line.contains("X509v3 Authority Key Identifier"))
            .nth(1)
            .map(|line| line.trim().trim_start_matches("keyid:").to_string())
            .unwrap_or_else(|| panic!("the certificate has no Authority Key Identifier:\n{text}"));
        let mut serial = hex_bytes(&self.serial());
        // DER integers are signed: a high first bit needs a leading zero byte.
        if serial.first().is_some_and(|byte| byte & 0x80 != 0) {
            serial.insert(0, 0);
        }
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(hex_bytes(&aki)),
            URL_SAFE_NO_PAD.encode(serial)
        )
    }

    /// The permission bits of `privkey.pem` (following the symlink).
    pub fn privkey_mode(&self) -> u32 {
        let path = self.file("privkey.pem");
        let metadata =
            fs::metadata(&path).unwrap_or_else(|err| panic!("stat {}: {err}", path.display()));
        metadata.permissions().mode() & 0o777
    }

    /// Asserts `privkey.pem` holds the private key of the certificate's public key.
    ///
    /// Reading the key with `openssl pkey` also proves that OpenSSL-based servers (nginx,
    /// haproxy, …) can load it.
    pub fn assert_key_matches_cert(&self) {
        let from_cert = self.x509(&["-noout", "-pubkey"]);
        let key = self.file("privkey.pem").to_string_lossy().into_owned();
        let output = tool::output("openssl", &["pkey", "-pubout", "-in", &key]);
        assert!(
            output.status.success(),
            "OpenSSL cannot read privkey.pem, so OpenSSL-based servers could not load it \
             (`openssl asn1parse -in privkey.pem` shows its structure):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let from_key = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            from_cert,
            from_key,
            "privkey.pem does not belong to cert.pem in {}",
            self.path.display()
        );
    }

    /// Asserts `cert.pem` verifies against `root` with `chain.pem` as the intermediates.
    pub fn assert_chains_to(&self, root: &Path) {
        let root = root.to_string_lossy();
        let chain = self.file("chain.pem").to_string_lossy().into_owned();
        let cert = self.file("cert.pem").to_string_lossy().into_owned();
        let args = ["verify", "-CAfile", &root, "-untrusted", &chain, &cert];
        let output = tool::output("openssl", &args);
        assert!(
            output.status.success(),
            "openssl {} failed:\n{}{}",
            tool::join_args(&args),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Asserts the first certificate of `fullchain.pem` is `cert.pem`.
    pub fn assert_fullchain_starts_with_cert(&self) {
        let fingerprint = |file: &str| {
            let path = self.file(file).to_string_lossy().into_owned();
            tool::stdout(
                "openssl",
                &["x509", "-noout", "-fingerprint", "-sha256", "-in", &path],
            )
        };
        assert_eq!(
            fingerprint("fullchain.pem"),
            fingerprint("cert.pem"),
            "fullchain.pem must open with cert.pem"
        );
    }

    fn x509(&self, args: &[&str]) -> String {
        let cert = self.file("cert.pem").to_string_lossy().into_owned();
        let mut all = vec!["x509", "-in", &cert];
        all.extend(args);
        tool::stdout("openssl", &all)
    }
}

/// A date as `date -d` understands it (RFC 3339, or openssl's `Nov 28 08:21:05 2026 GMT`)
/// as Unix seconds, computed by `date` so the tests do not share date code with the program.
pub fn unix_seconds(date: &str) -> i64 {
    let epoch = std::process::Command::new("date")
        .args(["-u", "-d", date, "+%s"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&epoch.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("cannot convert {date:?} to Unix seconds"))
}

/// Bytes of a hex string as openssl prints it (`0F:11:…` or `17F07A…`).
fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: String = hex.chars().filter(char::is_ascii_hexdigit).collect();
    let digits = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits"))
        .collect()
}
