//! Files the tool writes whole (`--save-facts`, `--metrics`): a reader (the node exporter's
//! textfile collector scraping mid-run, a script) sees the old file or the new one, never a
//! half-written one, and a failed write leaves nothing behind.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to a fresh temporary file beside `path`, syncs it, renames it over `path`
/// and syncs the directory, so that the rename itself survives a crash. On any error the
/// temporary file is removed and `path` is as it was.
///
/// The temporary name starts with a dot and does not end in `.prom`, so the textfile
/// collector, which reads `*.prom` only, never reads it. It is created exclusively and never
/// through a symlink: in a shared directory a planted link cannot make this write land
/// elsewhere. Mode 0666 is narrowed by the umask, as for any new file. The rename replaces the
/// target path itself, even when that is a symlink, and never writes through it.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (tmp, mut file) = create_temporary(path)?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is done; a directory that cannot be synced (some network file systems)
    // does not undo it.
    if let Ok(dir) = std::fs::File::open(directory_of(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Checks, before a long run, that `path` can be written the way [`write`] will write it:
/// a temporary file beside it is created and removed again. `path` itself is not touched.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let (tmp, file) = create_temporary(path)?;
    drop(file);
    std::fs::remove_file(tmp)
}

fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
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
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary name"))
}

fn random_suffix() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("acme-doctor-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("acme_doctor.prom");
        std::fs::write(&path, "old\n").unwrap_or_else(|e| panic!("{e}"));
        write(&path, b"new\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some("new\n")
        );
        assert_eq!(entries(&dir), ["acme_doctor.prom"]);
        check_writable(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entries(&dir), ["acme_doctor.prom"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_or_a_directory_is_an_error_and_leaves_nothing() {
        let dir = scratch("missing");
        assert!(write(&dir.join("absent/m.prom"), b"x").is_err());
        assert!(check_writable(&dir.join("absent/m.prom")).is_err());
        assert!(check_writable(&dir).is_err());
        // The rename over a directory fails after the temporary file was written.
        std::fs::create_dir(dir.join("taken.prom")).unwrap_or_else(|e| panic!("{e}"));
        assert!(write(&dir.join("taken.prom"), b"x").is_err());
        assert_eq!(entries(&dir), ["taken.prom"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
