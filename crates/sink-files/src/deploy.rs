//! The blocking file work of the files sink: versioned directories, the `..data` swap,
//! the stable names and pruning.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use acme_core::{Bundle, PrivateKeyPem};
use nix::fcntl::OFlag;
use nix::unistd::AccessFlags;
use time::OffsetDateTime;

use crate::Error;

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";
const CERT: &str = "cert.pem";
const CHAIN: &str = "chain.pem";
const FULLCHAIN: &str = "fullchain.pem";
const PRIVKEY: &str = "privkey.pem";
const CA: &str = "ca.pem";
/// Every name that may appear as `DIR/<name> -> ..data/<name>`.
const STABLE_NAMES: [&str; 5] = [CERT, CHAIN, FULLCHAIN, PRIVKEY, CA];
/// The shape of a version directory's name: `0` stands for any ASCII digit.
const VERSION_TEMPLATE: &[u8] = b"..0000_00_00_00_00_00.000000";
const CERT_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Where and how one sink deploys: its directory, the group of the key, how many old versions stay.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) dir: PathBuf,
    pub(crate) gid: Option<u32>,
    pub(crate) keep: usize,
}

/// One file of a version directory.
struct VersionFile<'a> {
    name: &'static str,
    contents: &'a [u8],
    mode: u32,
    gid: Option<u32>,
}

/// Writes `bundle` as a new version of `target` and makes it the current one.
///
/// Until the `..data` swap, a failure removes the new version directory and leaves the
/// deployed version untouched (stable names it linked for a first deployment are harmless:
/// they point through `..data`, which then does not exist). After the swap the new version
/// is live: a failure to fsync `dir` or to remove a stale `ca.pem` link is still returned,
/// a failure to prune is only logged.
pub(crate) fn store(target: &Target, bundle: &Bundle) -> Result<(), Error> {
    let dir = target.dir.as_path();
    ensure_dir(dir)?;
    let previous = current_version(dir)?;
    for name in STABLE_NAMES {
        stable_name_exists(dir, name)?;
    }

    let fullchain = bundle.fullchain_pem();
    let key_mode = if target.gid.is_some() { 0o640 } else { 0o600 };
    let mut files = vec![
        VersionFile::cert(CERT, &bundle.cert_pem),
        VersionFile::cert(CHAIN, &bundle.chain_pem),
        VersionFile::cert(FULLCHAIN, &fullchain),
    ];
    if let Some(ca) = &bundle.ca_pem {
        files.push(VersionFile::cert(CA, ca));
    }
    files.push(VersionFile {
        name: PRIVKEY,
        contents: bundle.key.expose().as_bytes(),
        mode: key_mode,
        gid: target.gid,
    });

    let version = create_version_dir(dir, OffsetDateTime::now_utc())?;
    let version_dir = dir.join(&version);
    // The stable names are linked before the swap: a crash between the swap and linking
    // would otherwise leave a first deployment without `cert.pem` & co., and the next run
    // finds a valid certificate behind `..data` and has no reason to store again.
    let with_ca = bundle.ca_pem.is_some();
    if let Err(e) = write_version(&version_dir, &files)
        .and_then(|()| link_stable_names(dir, with_ca))
        .and_then(|()| swap(dir, &version))
    {
        remove_version(&version_dir);
        return Err(e);
    }
    sync_dir(dir)?;
    unlink_stale_names(dir, with_ca)?;
    tracing::debug!(dir = %dir.display(), %version, ?previous, "deployed a new version");
    prune(dir, &version, target.keep);
    Ok(())
}

/// Checks what [`store`] will need, without writing a certificate: `dir` is (or is created
/// as) a directory, its `..data` and stable names are the sink's own, and a file can be
/// created in it with the key's group. A probe file is created and removed again.
pub(crate) fn preflight(target: &Target) -> Result<(), Error> {
    let dir = target.dir.as_path();
    ensure_dir(dir)?;
    current_version(dir)?;
    for name in STABLE_NAMES {
        stable_name_exists(dir, name)?;
    }
    let probe = dir.join(format!(".acmekeep-preflight.{}", std::process::id()));
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(&probe)?;
        if let Some(gid) = target.gid {
            std::os::unix::fs::fchown(&file, None, Some(gid))?;
        }
        file.sync_all()
    })();
    let removed = fs::remove_file(&probe);
    result.map_err(|e| Error::io(&probe, e))?;
    removed.map_err(|e| Error::io(&probe, e))
}

/// What [`preflight`] checks, without creating anything: an existing `dir` gets the whole
/// preflight (a probe file written and removed at once); a missing one needs its nearest
/// existing ancestor to be a directory this process may create entries in. Says what it found.
pub(crate) fn health(target: &Target) -> Result<String, Error> {
    let dir = target.dir.as_path();
    match fs::metadata(dir) {
        Ok(_) => preflight(target).map(|()| "accepts certificates".to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let Some(parent) = dir.ancestors().skip(1).find(|a| a.exists()) else {
                return Err(Error::io(dir, e));
            };
            ensure_is_dir(parent)?;
            nix::unistd::access(parent, AccessFlags::W_OK | AccessFlags::X_OK)
                .map_err(|errno| Error::io(parent, io::Error::from(errno)))?;
            Ok(format!(
                "does not exist yet; the first store creates it in {}",
                parent.display()
            ))
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Fails unless `path` is a directory (following symlinks).
fn ensure_is_dir(path: &Path) -> Result<(), Error> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => Err(Error::unexpected(
            path,
            format!("{}, expected a directory", kind(&meta)),
        )),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Reads the deployed bundle, `None` if nothing has been deployed.
///
/// The files are read from the version directory `..data` points to when `load` starts,
/// so a concurrent swap cannot pair a certificate with another version's key. The files
/// must agree: `fullchain.pem` is `cert.pem` followed by `chain.pem`, and `privkey.pem` is
/// the key of `cert.pem`; a file edited or replaced on its own is an
/// [`Error::Disagreement`] naming it.
pub(crate) fn load(dir: &Path) -> Result<Option<Bundle>, Error> {
    let Some(version) = current_version(dir)? else {
        return Ok(None);
    };
    let version_dir = dir.join(version);
    let bundle = read_version(&version_dir)?;
    check_agreement(dir, &version_dir, &bundle)?;
    Ok(Some(bundle))
}

/// Reads the deployed bundle like [`load`], without checking that its files agree.
pub(crate) fn load_as_is(dir: &Path) -> Result<Option<Bundle>, Error> {
    current_version(dir)?
        .map(|version| read_version(&dir.join(version)))
        .transpose()
}

fn read_version(version_dir: &Path) -> Result<Bundle, Error> {
    Ok(Bundle {
        cert_pem: read(&version_dir.join(CERT))?,
        chain_pem: read(&version_dir.join(CHAIN))?,
        key: PrivateKeyPem::new(read(&version_dir.join(PRIVKEY))?),
        ca_pem: read_optional(&version_dir.join(CA))?,
    })
}

/// Fails naming (by its stable name in `dir`) the file that disagrees with the others.
///
/// `fullchain.pem` must be `cert.pem` followed by `chain.pem`, and `privkey.pem` the key of
/// `cert.pem`. When `fullchain.pem` does not start with `cert.pem`, the key tells which of
/// the two was replaced.
fn check_agreement(dir: &Path, version_dir: &Path, bundle: &Bundle) -> Result<(), Error> {
    let fullchain = read(&version_dir.join(FULLCHAIN))?;
    // A certificate that cannot be read is for the caller to report; only a readable one
    // can be paired with its key.
    let key_matches = acme_core::CertInfo::from_pem(&bundle.cert_pem)
        .map_or(true, |info| info.matches_key(&bundle.key));
    let differs = |name: &str, reason: String| Error::Disagreement {
        path: dir.join(name),
        reason,
    };
    if fullchain == bundle.fullchain_pem() {
        return if key_matches {
            Ok(())
        } else {
            Err(differs(PRIVKEY, format!("is not the key of {CERT}")))
        };
    }
    let with_cert = fullchain_prefix(&bundle.cert_pem);
    match fullchain.strip_prefix(with_cert.as_str()) {
        Some(_) if key_matches => Err(differs(
            CHAIN,
            format!("is not what {FULLCHAIN} holds after the certificate"),
        )),
        Some(_) => Err(differs(PRIVKEY, format!("is not the key of {CERT}"))),
        None if key_matches => Err(differs(
            FULLCHAIN,
            format!(
                "does not start with the certificate in {CERT} (it must be {CERT} followed by {CHAIN})"
            ),
        )),
        None => Err(differs(
            CERT,
            format!(
                "does not belong to {PRIVKEY}, nor is it the certificate {FULLCHAIN} starts with"
            ),
        )),
    }
}

/// `cert_pem` as it starts a fullchain (with a final newline).
fn fullchain_prefix(cert_pem: &str) -> String {
    let mut prefix = cert_pem.to_owned();
    if !prefix.ends_with('\n') {
        prefix.push('\n');
    }
    prefix
}

impl<'a> VersionFile<'a> {
    fn cert(name: &'static str, contents: &'a str) -> Self {
        VersionFile {
            name,
            contents: contents.as_bytes(),
            mode: CERT_MODE,
            gid: None,
        }
    }
}

/// Creates `dir` (0755) if it does not exist; refuses anything that is not a directory.
fn ensure_dir(dir: &Path) -> Result<(), Error> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => Err(Error::unexpected(
            dir,
            format!("{}, expected a directory", kind(&meta)),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .and_then(|()| fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)))
            .map_err(|e| Error::io(dir, e)),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// The version directory `DIR/..data` points to, `None` if there is no `..data`.
///
/// `..data` must be a symlink to a version directory directly inside `dir`; a dangling
/// link is accepted (a store replaces it, a load reports the missing files).
fn current_version(dir: &Path) -> Result<Option<String>, Error> {
    let data = dir.join(DATA);
    let meta = match fs::symlink_metadata(&data) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&data, e)),
    };
    if !meta.file_type().is_symlink() {
        return Err(Error::unexpected(
            &data,
            format!("{}, expected a symlink to a version directory", kind(&meta)),
        ));
    }
    let link = fs::read_link(&data).map_err(|e| Error::io(&data, e))?;
    let version = link
        .to_str()
        .filter(|name| is_version_name(name))
        .ok_or_else(|| {
            Error::unexpected(
                &data,
                format!(
                    "a symlink to {}, expected a symlink to a ..YYYY_MM_DD_HH_MM_SS.ffffff directory inside {}",
                    link.display(),
                    dir.display()
                ),
            )
        })?;
    let version_dir = dir.join(version);
    match fs::symlink_metadata(&version_dir) {
        Ok(meta) if meta.is_dir() => Ok(Some(version.to_owned())),
        Ok(meta) => Err(Error::unexpected(
            &version_dir,
            format!("{}, expected a version directory", kind(&meta)),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(version.to_owned())),
        Err(e) => Err(Error::io(&version_dir, e)),
    }
}

/// Whether `DIR/<name>` exists; it may only be the symlink `..data/<name>`.
fn stable_name_exists(dir: &Path, name: &str) -> Result<bool, Error> {
    let path = dir.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let expected = stable_target(name);
    if !meta.file_type().is_symlink() {
        return Err(Error::unexpected(
            &path,
            format!("{}, expected a symlink to {expected}", kind(&meta)),
        ));
    }
    let link = fs::read_link(&path).map_err(|e| Error::io(&path, e))?;
    if link != Path::new(&expected) {
        return Err(Error::unexpected(
            &path,
            format!(
                "a symlink to {}, expected a symlink to {expected}",
                link.display()
            ),
        ));
    }
    Ok(true)
}

fn stable_target(name: &str) -> String {
    format!("{DATA}/{name}")
}

/// Whether `name` has the shape `..YYYY_MM_DD_HH_MM_SS.ffffff`.
fn is_version_name(name: &str) -> bool {
    name.len() == VERSION_TEMPLATE.len()
        && name.bytes().zip(VERSION_TEMPLATE).all(|(b, &t)| {
            if t == b'0' {
                b.is_ascii_digit()
            } else {
                b == t
            }
        })
}

fn version_name(at: OffsetDateTime) -> String {
    format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{:06}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// Creates a fresh, empty version directory named after `now` (UTC) and returns its name.
///
/// If that name is taken (two stores within one microsecond), the next free microsecond is
/// used, so names stay unique and keep sorting in the order the versions were made.
fn create_version_dir(dir: &Path, now: OffsetDateTime) -> Result<String, Error> {
    let mut taken = dir.to_path_buf();
    for step in 0..1000 {
        let name = version_name(now + time::Duration::microseconds(step));
        let path = dir.join(&name);
        match DirBuilder::new().mode(DIR_MODE).create(&path) {
            Ok(()) => {
                if let Err(e) = fs::set_permissions(&path, Permissions::from_mode(DIR_MODE)) {
                    remove_version(&path);
                    return Err(Error::io(&path, e));
                }
                return Ok(name);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => taken = path,
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Err(Error::io(taken, io::ErrorKind::AlreadyExists.into()))
}

/// Writes every file of a version and fsyncs them and the directory.
fn write_version(version_dir: &Path, files: &[VersionFile<'_>]) -> Result<(), Error> {
    for file in files {
        write_file(&version_dir.join(file.name), file)?;
    }
    sync_dir(version_dir)
}

/// Creates one file that has its final owner group and mode before a byte is written: a
/// file for a group starts owner-only and is handed to the group before it is opened to it.
fn write_file(path: &Path, file: &VersionFile<'_>) -> Result<(), Error> {
    let result = (|| {
        let create_mode = if file.gid.is_some() { 0o600 } else { file.mode };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(create_mode)
            .open(path)?;
        if let Some(gid) = file.gid {
            std::os::unix::fs::fchown(&out, None, Some(gid))?;
        }
        out.set_permissions(Permissions::from_mode(file.mode))?;
        out.write_all(file.contents)?;
        out.sync_all()
    })();
    result.map_err(|e| Error::io(path, e))
}

/// Points `DIR/..data` at `version` in one atomic rename.
fn swap(dir: &Path, version: &str) -> Result<(), Error> {
    let tmp = dir.join(DATA_TMP);
    match fs::symlink_metadata(&tmp) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        Ok(meta) => {
            return Err(Error::unexpected(
                &tmp,
                format!("{}, expected nothing or a leftover symlink", kind(&meta)),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&tmp, e)),
    }
    symlink(version, &tmp).map_err(|e| Error::io(&tmp, e))?;
    let data = dir.join(DATA);
    if let Err(e) = fs::rename(&tmp, &data) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&data, e));
    }
    Ok(())
}

/// Makes sure `DIR/<name> -> ..data/<name>` exists for every file of the version about to
/// be published (a link made for a first deployment dangles until the swap), and fsyncs `dir`.
fn link_stable_names(dir: &Path, with_ca: bool) -> Result<(), Error> {
    for name in STABLE_NAMES {
        let wanted = name != CA || with_ca;
        let path = dir.join(name);
        if wanted && !stable_name_exists(dir, name)? {
            symlink(stable_target(name), &path).map_err(|e| Error::io(&path, e))?;
        }
    }
    sync_dir(dir)
}

/// Removes the `ca.pem` link when the published version has no CA certificate.
fn unlink_stale_names(dir: &Path, with_ca: bool) -> Result<(), Error> {
    if !with_ca && stable_name_exists(dir, CA)? {
        let path = dir.join(CA);
        fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes version directories beyond the `keep` most recent ones before `current`.
///
/// The new version is already deployed, so a failure here is logged, not returned.
fn prune(dir: &Path, current: &str, keep: usize) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list old versions to prune");
            return;
        }
    };
    let mut versions: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_version_name(name) && name != current)
        .collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    for name in versions.iter().skip(keep) {
        remove_version(&dir.join(name));
    }
}

fn remove_version(path: &Path) {
    if let Err(e) = fs::remove_dir_all(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove version directory");
    }
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Reads a file of a version; a symlink in its place is refused, not followed.
fn read(path: &Path) -> Result<String, Error> {
    read_optional(path)?.ok_or_else(|| Error::io(path, io::ErrorKind::NotFound.into()))
}

fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    let result = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
        .and_then(|mut file| {
            let mut text = String::new();
            file.read_to_string(&mut text).map(|_| text)
        });
    match result {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_are_utc_timestamps_with_microseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_795_851_600_123_456_789)
            .expect("timestamp");
        let name = version_name(at);
        assert_eq!(name, "..2026_11_28_07_40_00.123456");
        assert!(is_version_name(&name));
    }

    #[test]
    fn only_the_version_shape_counts_as_a_version() {
        for name in [
            "..data",
            "..data_tmp",
            "..2026_11_28_07_40_00",
            "..2026_11_28_07_40_00.12345x",
            "..2026_11_28_07_40_00.1234567",
            "../2026_11_28_07_40_00.12345",
            "2026_11_28_07_40_00.123456",
        ] {
            assert!(!is_version_name(name), "{name}");
        }
    }

    #[test]
    fn two_versions_in_the_same_microsecond_get_distinct_names_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = OffsetDateTime::now_utc();
        let first = create_version_dir(dir.path(), now).expect("first");
        let second = create_version_dir(dir.path(), now).expect("second");
        assert_ne!(first, second);
        assert!(second > first, "{second} should sort after {first}");
        assert!(is_version_name(&second));
    }
}
