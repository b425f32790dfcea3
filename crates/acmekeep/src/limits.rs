//! The process's resource limits.

use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};

/// The most open files asked for when the hard limit is unlimited (Linux's default
/// `fs.nr_open`; the kernel refuses more than that).
const MAX_OPEN_FILES: u64 = 1 << 20;

/// Raises the soft limit on open files to the hard limit, so that connections others hold
/// open (to a challenge listener, the metrics server) cannot use up the descriptors that
/// ACME requests and sink writes need. A failure is logged; acmekeep runs on regardless.
pub fn raise_open_files_limit() {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            tracing::debug!("cannot read the limit of open files: {error}");
            return;
        }
    };
    let target = if hard == RLIM_INFINITY {
        MAX_OPEN_FILES
    } else {
        hard
    };
    if soft >= target {
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => tracing::debug!(
            from = soft,
            to = target,
            "raised the soft limit of open files"
        ),
        Err(error) => tracing::warn!(
            "cannot raise the soft limit of open files from {soft} to {target}: {error}"
        ),
    }
}
