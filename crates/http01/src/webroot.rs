//! Webroot mode: challenge files under a web server's document root.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Directories created here must be readable by the web server, whatever acmekeep's umask.
const DIR_MODE: u32 = 0o755;
/// The challenge file is public by design.
const FILE_MODE: u32 = 0o644;

/// `<webroot>/.well-known/acme-challenge`.
fn challenge_dir(webroot: &Path) -> PathBuf {
    webroot.join(".well-known").join("acme-challenge")
}

/// Writes the challenge file atomically (a web server never sees half of it), creating
/// `.well-known/acme-challenge` if missing. The webroot itself must exist: creating it
/// would hide a typo in the configuration. `token` must already be validated.
pub(crate) async fn write(
    webroot: &Path,
    token: &str,
    key_authorization: &str,
) -> Result<(), Error> {
    let well_known = webroot.join(".well-known");
    let dir = challenge_dir(webroot);
    let file = dir.join(token);
    let target = file.clone();
    let contents = key_authorization.as_bytes().to_vec();
    tokio::task::spawn_blocking(move || {
        create_public_dir(&well_known)?;
        create_public_dir(&dir)?;
        remove_stale_files(&dir, &contents);
        acme_core::write_atomic(&target, &contents, FILE_MODE)
            .map_err(|source| Error::WriteFile { source })
    })
    .await
    .map_err(|join_error| Error::Webroot {
        action: "write",
        path: file,
        source: join_error.into(),
    })?
}

/// Removes the challenge file; a file that is already gone is fine.
pub(crate) async fn remove(webroot: &Path, token: &str) -> Result<(), Error> {
    let file = challenge_dir(webroot).join(token);
    match tokio::fs::remove_file(&file).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Webroot {
            action: "remove",
            path: file,
            source,
        }),
    }
}

/// Removes the challenge files an earlier run of the same ACME account left behind (it was
/// killed before its cleanup): a file `T` holding `T.<thumbprint>` with this challenge's
/// account thumbprint. Files of other accounts or other tools are left alone; failures are
/// only logged, as a stale file does not stop this challenge.
fn remove_stale_files(dir: &Path, key_authorization: &[u8]) {
    let Some(dot) = key_authorization.iter().rposition(|&b| b == b'.') else {
        return;
    };
    let thumbprint = &key_authorization[dot..];
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let mut ours = name.as_encoded_bytes().to_vec();
        ours.extend_from_slice(thumbprint);
        let is_ours = entry.file_type().is_ok_and(|t| t.is_file())
            && entry.metadata().is_ok_and(|m| m.len() == ours.len() as u64)
            && fs::read(&path).is_ok_and(|contents| contents == ours);
        if is_ours {
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a challenge file left by an earlier run")
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot remove a challenge file left by an earlier run")
                }
            }
        }
    }
}

/// Creates one directory with mode 0755; an existing directory is left as it is.
fn create_public_dir(dir: &Path) -> Result<(), Error> {
    let error = |source| Error::Webroot {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    };
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(error),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(error(e)),
    }
}
