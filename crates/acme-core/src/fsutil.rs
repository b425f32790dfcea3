use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::OFlag;

use crate::Error;

/// Creates `dir` (and parents) if missing and restricts it to `mode` (e.g. 0o700).
pub fn ensure_private_dir(dir: &Path, mode: u32) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(|e| Error::io(dir, e))
}

/// How often `write_atomic` draws a new temporary name when one already exists.
const TEMP_ATTEMPTS: usize = 8;

/// Writes `contents` to `path` atomically with permissions `mode`: a temporary file in the
/// same directory, created with `mode` (never wider, whatever the umask), fsynced, renamed
/// over `path`, and the directory fsynced. On failure `path` is left as it was.
///
/// The temporary file is `.<name>.tmp.<random>`: a fresh, unpredictable name opened with
/// `O_CREAT|O_EXCL|O_NOFOLLOW`, so concurrent writers never share it and nobody else with
/// access to the directory can plant a file or symlink there for it to write through. A
/// process killed before the rename leaves it behind; [`remove_atomic_leftovers`] removes it.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = temp_prefix(path);
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        // Straight from the OS's random source: unpredictable, not merely unique.
        let random = getrandom::u64().map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        let tmp = dir.join(format!("{prefix}{random:016x}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .mode(mode)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt + 1 < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(Error::io(path, e)),
        }
    };
    let result = (|| {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Removes the temporary files that [`write_atomic`] calls for `path` left behind when their
/// process was killed before the rename, and returns how many it removed. Only call it when no
/// other process can be writing `path` at the same time (e.g. under the state lock, or for a
/// file only this process writes); a missing directory has nothing to remove.
pub fn remove_atomic_leftovers(path: &Path) -> Result<usize, Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = temp_prefix(path);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let is_leftover = entry
            .file_name()
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
            .is_some_and(|suffix| {
                !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_hexdigit())
            });
        if is_leftover {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(entry.path(), e)),
            }
        }
    }
    Ok(removed)
}

/// `.<file name>.tmp.`: what every temporary file of `write_atomic(path, …)` starts with.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_have_the_requested_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("account.json");
        write_atomic(&path, b"{}", 0o600).expect("write");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_atomic(&path, b"{\"a\":1}", 0o600).expect("overwrite");
        assert_eq!(fs::read(&path).expect("read"), b"{\"a\":1}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("x");
        assert!(write_atomic(&path, b"new", 0o600).is_err());
    }

    #[test]
    fn a_symlink_planted_at_a_guessable_temporary_name_is_not_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"untouched").expect("victim");
        let path = dir.path().join("token");
        // Where a predictable scheme (`.NAME.tmp.PID.N`) would put the temporary file.
        for n in 0..256 {
            let guess = dir
                .path()
                .join(format!(".token.tmp.{}.{n}", std::process::id()));
            std::os::unix::fs::symlink(&victim, guess).expect("plant a symlink");
        }

        write_atomic(&path, b"challenge", 0o644).expect("write");

        assert_eq!(
            fs::read_to_string(&victim).expect("read victim"),
            "untouched"
        );
        assert_eq!(fs::read(&path).expect("read"), b"challenge");
        assert!(!fs::symlink_metadata(&path).expect("stat").is_symlink());
    }

    #[test]
    fn leftovers_of_a_killed_write_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        write_atomic(&path, b"live", 0o644).expect("write");
        let leftover = dir.path().join(".token.tmp.0123456789abcdef");
        let others = [
            ".token.tmp.",
            ".token.tmp.not-hex",
            ".tokens.tmp.01",
            ".other.tmp.01",
            "token2",
        ];
        fs::write(&leftover, b"half").expect("leftover");
        for other in others {
            fs::write(dir.path().join(other), b"x").expect("other file");
        }

        assert_eq!(remove_atomic_leftovers(&path).expect("sweep"), 1);

        assert!(!leftover.exists());
        assert_eq!(fs::read(&path).expect("read"), b"live");
        for other in others {
            assert!(dir.path().join(other).exists(), "{other} must be kept");
        }
        let missing = dir.path().join("no-such-dir").join("token");
        assert_eq!(remove_atomic_leftovers(&missing).expect("missing dir"), 0);
    }

    #[test]
    fn a_successful_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        for round in 0..3 {
            write_atomic(&path, format!("{round}").as_bytes(), 0o600).expect("write");
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }
}
