//! Webroot mode: challenge files under a web server's document root.
//!
//! Files are written only for tokens this process presents and removed on cleanup; nothing
//! here guesses which other files are stale. Files a killed run left behind (the token file,
//! or the temporary file of an interrupted atomic write) are removed by
//! [`remove_leftovers`], which the binary calls for the tokens its challenge journal names.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Error;
use crate::token::is_valid_token;

/// Directories created here must be readable by the web server, whatever acmekeep's umask.
const DIR_MODE: u32 = 0o755;
/// The challenge file is public by design.
const FILE_MODE: u32 = 0o644;

/// `<webroot>/.well-known` and `<webroot>/.well-known/acme-challenge`.
fn challenge_dirs(webroot: &Path) -> [PathBuf; 2] {
    let well_known = webroot.join(".well-known");
    let challenge = well_known.join("acme-challenge");
    [well_known, challenge]
}

/// `<webroot>/.well-known/acme-challenge`, after checking that neither it nor `.well-known`
/// is a symbolic link: whoever can write the document root must not be able to redirect
/// acmekeep's writes and removals elsewhere. Missing directories are fine here.
fn checked_challenge_dir(webroot: &Path) -> Result<PathBuf, Error> {
    let [well_known, challenge] = challenge_dirs(webroot);
    refuse_symlink(&well_known)?;
    refuse_symlink(&challenge)?;
    Ok(challenge)
}

/// Fails if `dir` is a symbolic link; a missing `dir` is fine.
fn refuse_symlink(dir: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::SymlinkInWebroot {
            path: dir.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Webroot {
            action: "inspect",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Writes the challenge file atomically (a web server never sees half of it), creating
/// `.well-known/acme-challenge` if missing. The webroot itself must exist: creating it
/// would hide a typo in the configuration. `token` must already be validated.
pub(crate) async fn write(
    webroot: &Path,
    token: &str,
    key_authorization: &str,
) -> Result<(), Error> {
    let webroot = webroot.to_path_buf();
    let token = token.to_string();
    let contents = key_authorization.as_bytes().to_vec();
    blocking(
        "write",
        challenge_dirs(&webroot)[1].join(&token),
        move || {
            // mkdir never follows a link in its last component, so each directory is checked
            // once it exists and before anything is created or written inside it.
            let [well_known, dir] = challenge_dirs(&webroot);
            for each in [&well_known, &dir] {
                create_public_dir(each)?;
                refuse_symlink(each)?;
            }
            acme_core::write_atomic(&dir.join(&token), &contents, FILE_MODE)
                .map_err(|source| Error::WriteFile { source })
        },
    )
    .await
}

/// Removes the challenge file; a file that is already gone is fine.
pub(crate) async fn remove(webroot: &Path, token: &str) -> Result<(), Error> {
    let webroot = webroot.to_path_buf();
    let token = token.to_string();
    blocking(
        "remove",
        challenge_dirs(&webroot)[1].join(&token),
        move || {
            let file = checked_challenge_dir(&webroot)?.join(&token);
            match fs::remove_file(&file) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(Error::Webroot {
                    action: "remove",
                    path: file,
                    source,
                }),
            }
        },
    )
    .await
}

/// Removes what writing the challenge file of `token` under `webroot` may have left when the
/// process was killed: the file itself and the temporary files of its atomic write. Call it
/// only for tokens of a run that is over (the binary's challenge journal names them); files of
/// other tokens are never touched. A webroot or directory that is gone is fine.
pub async fn remove_leftovers(webroot: &Path, token: &str) -> Result<(), Error> {
    if !is_valid_token(token) {
        return Err(Error::InvalidToken {
            token: token.to_string(),
        });
    }
    remove(webroot, token).await?;
    let webroot = webroot.to_path_buf();
    let token = token.to_string();
    blocking(
        "remove",
        challenge_dirs(&webroot)[1].join(&token),
        move || {
            let file = checked_challenge_dir(&webroot)?.join(&token);
            acme_core::remove_atomic_leftovers(&file)
                .map(drop)
                .map_err(|source| Error::RemoveLeftover { source })
        },
    )
    .await
}

/// Runs `work` on the blocking pool; a panicked task becomes an error about `path`.
async fn blocking(
    action: &'static str,
    path: PathBuf,
    work: impl FnOnce() -> Result<(), Error> + Send + 'static,
) -> Result<(), Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join_error| Error::Webroot {
            action,
            path,
            source: join_error.into(),
        })?
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
