//! Running the external tools the harness relies on (`openssl`, `curl`) and starting servers.

use std::ffi::OsStr;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Runs `program` with `args` to completion; panics if it cannot be started.
pub(crate) fn output<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(err) if err.kind() == ErrorKind::NotFound => not_installed(program),
        Err(err) => panic!("cannot run {program}: {err}"),
    }
}

/// Runs `program` with `args` and returns its stdout; panics with its stderr if it fails.
pub(crate) fn stdout<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let output = output(program, args);
    if !output.status.success() {
        panic!(
            "{program} {} failed ({}):\n{}",
            join_args(args),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts a server: `command` with no input, its output and errors both written to `log`;
/// panics if it cannot be started.
pub(crate) fn spawn_logged(command: &mut Command, log: &Path) -> Child {
    let file =
        File::create(log).unwrap_or_else(|err| panic!("cannot create {}: {err}", log.display()));
    let stderr = file.try_clone().expect("duplicate a log file handle");
    command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {:?}: {err}", command.get_program()))
}

/// Finds `program` on `PATH`, or fails the test with the command that installs it.
pub(crate) fn require(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| not_installed(program))
}

/// Fails the test: `program` is missing, and says how to get it.
pub(crate) fn not_installed(program: &str) -> ! {
    let package = match program {
        "pebble-challtestsrv" => "pebble",
        other => other,
    };
    panic!("{program} not installed: run scripts/test (apt-get install {package})")
}

/// Renders arguments for a failure message.
pub(crate) fn join_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|arg| arg.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
