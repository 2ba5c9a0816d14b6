//! Tools a test needs that a machine may lack: `python3` for the Python client, root's
//! right to mount a small disk. Under CI (`CI=true`) a missing tool fails the test: CI
//! installs everything a test needs (`.ci/run`, the Makefile), so a test that passes
//! there has really run. Elsewhere the test passes, and says loudly that it was
//! SKIPPED (`.config/nextest.toml` shows what such a test printed even when it passes).

use std::process::{Command, Stdio};

/// Is this run under CI?
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Checks that `program` runs (`program --version` exits 0); `Err` says why not.
pub fn tool(program: &str) -> Result<(), String> {
    match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`{program} --version` exited with {}",
            output.status
        )),
        Err(e) => Err(format!("`{program}` does not run: {e}")),
    }
}

/// Reports that the test cannot run for want of `what` (`why`): under CI the test
/// fails here; elsewhere this prints a SKIPPED banner and returns, and the caller
/// returns too.
pub fn missing(what: &str, why: &str) {
    assert!(
        !under_ci(),
        "{what} is missing ({why}): CI must provide it (see .ci/run)"
    );
    eprintln!("\n*** SKIPPED: {what} is missing ({why}) ***\n");
}
