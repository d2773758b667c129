//! Facts files: `--from-facts` reads any version (migrated by [`crate::facts::from_json`]),
//! `--save-facts` writes the current one.

use super::error::ToolError;
use crate::facts::RunFacts;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Largest facts file accepted: saved facts are a few kilobytes; anything huge is a mistake.
const FACTS_FILE_CAP: u64 = 16 * 1024 * 1024;

pub fn load_facts(path: &Path) -> Result<Vec<RunFacts>, ToolError> {
    let shown = path.display();
    let unreadable =
        |e: std::io::Error| ToolError::input(format!("cannot read facts file {shown}: {e}"));
    // Read through a cap, not by the size the file claims: a FIFO or a device has none.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(unreadable)?
        .take(FACTS_FILE_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > FACTS_FILE_CAP {
        return Err(ToolError::input(format!(
            "facts file {shown} is larger than {FACTS_FILE_CAP} bytes"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ToolError::input(format!("facts file {shown} is not UTF-8 text")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ToolError::input(format!("facts file {shown} is not JSON: {e}")))?;
    crate::facts::from_json(value).map_err(|e| ToolError::input(format!("facts file {shown} {e}")))
}

/// Writes next to the target and renames, so an interrupted write never leaves half a file.
pub fn save_facts(path: &Path, runs: &[RunFacts]) -> Result<(), ToolError> {
    let text = if runs.len() == 1 {
        serde_json::to_string_pretty(&runs[0])
    } else {
        serde_json::to_string_pretty(runs)
    }
    .map_err(|e| ToolError::internal(format!("cannot encode facts: {e}")))?;
    let shown = path.display();
    let file_name = path
        .file_name()
        .ok_or_else(|| ToolError::input(format!("--save-facts {shown}: not a file name")))?;
    // A fresh, random name beside the target, created exclusively and never through a
    // symlink: in a shared directory a planted link cannot make this write land elsewhere.
    // Mode 0666 is narrowed by the umask, as for any new file. The rename replaces the target
    // path itself, even when that is a symlink, and never writes through it.
    let mut created = None;
    for _ in 0..16 {
        let tmp = path.with_file_name(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            random_suffix()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(file) => {
                created = Some((tmp, file));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(ToolError::input(format!(
                    "cannot write facts file {shown}: {e}"
                )));
            }
        }
    }
    let Some((tmp, mut file)) = created else {
        return Err(ToolError::input(format!(
            "cannot write facts file {shown}: no free temporary name"
        )));
    };
    let result = file
        .write_all((text + "\n").as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ToolError::input(format!(
            "cannot write facts file {shown}: {e}"
        )));
    }
    Ok(())
}

fn random_suffix() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}
