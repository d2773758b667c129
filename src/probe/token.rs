//! A real challenge file, written the way ACME clients write one (`certbot --webroot`,
//! `lego --http.webroot`): `<webroot>/.well-known/acme-challenge/<token>` holding
//! `<token>.<thumbprint>`, with the missing directories created, then removed again.
//!
//! Safety, because acme-doctor often runs as root in a directory other users may write:
//! - every step is relative to a descriptor of the webroot, and with `openat2(RESOLVE_BENEATH)`
//!   no path can resolve outside it, symlinks included; where the kernel lacks `openat2`, no
//!   symlink is followed at all (`O_NOFOLLOW` at each level);
//! - the file is created with `O_CREAT | O_EXCL | O_NOFOLLOW`, so nothing existing is touched;
//! - it gets the mode and owner of a file already there (or the directory's owner and 0644),
//!   so the web server can read it as it reads the real ones;
//! - it and every directory created for it are removed on drop, and by [`remove_all`], which
//!   the CLI registers with its one signal handler (`cli::signals::on_interrupt`) for Ctrl-C
//!   and SIGTERM.
//!
//! The API is small because `--all` creates one token per certificate webroot.

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, geteuid, unlinkat};
use std::fmt;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

const DIRS: [&str; 2] = [".well-known", "acme-challenge"];

/// Why no token file could be written. The run goes on without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The webroot cannot be opened (missing, not a directory, no permission).
    Webroot(String),
    /// A path component is a symlink that leads out of the webroot (or, without
    /// `openat2`, any symlink).
    Escapes(String),
    /// Creating a directory or the file failed.
    Write(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Webroot(m) => write!(f, "cannot open the webroot: {m}"),
            TokenError::Escapes(m) => write!(
                f,
                "refused: {m} is a symlink leading out of the webroot, no file was written"
            ),
            TokenError::Write(m) => write!(f, "cannot write the challenge file: {m}"),
        }
    }
}

/// What has to be removed again: the file, then the directories made for it, deepest first.
struct Live {
    /// The directory holding the file, and the file's name.
    dir: OwnedFd,
    name: String,
    /// (parent, name) of each directory created, outermost first.
    created: Vec<(OwnedFd, String)>,
    removed: bool,
}

impl Live {
    fn remove(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        let _ = unlinkat(&self.dir, self.name.as_str(), UnlinkatFlags::NoRemoveDir);
        // Only directories still empty go: the web server or a client may have put files
        // there meanwhile (rmdir fails on a non-empty directory, which is what we want).
        for (parent, name) in self.created.iter().rev() {
            let _ = unlinkat(parent, name.as_str(), UnlinkatFlags::RemoveDir);
        }
    }
}

/// Every token not yet removed, for the signal task.
static LIVE: Mutex<Vec<Arc<Mutex<Live>>>> = Mutex::new(Vec::new());

/// A challenge file on disk. Dropping it removes the file and the directories made for it.
pub struct TokenFile {
    token: String,
    content: String,
    path: PathBuf,
    live: Arc<Mutex<Live>>,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    /// The token: the file's name and the last segment of the challenge URL.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// What the file holds: the key authorization the CA would expect.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The file's path, as the webroot was given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file and the directories created for it now.
    pub fn remove(self) {
        drop(self);
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove();
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|l| !Arc::ptr_eq(l, &self.live));
    }
}

/// Removes every token file still on disk. The CLI registers it as the Ctrl-C and SIGTERM
/// cleanup; safe to call twice.
pub fn remove_all() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
    for l in live {
        l.lock().unwrap_or_else(PoisonError::into_inner).remove();
    }
}

/// Writes a fresh token file under `webroot/.well-known/acme-challenge/`.
pub fn create(webroot: &Path) -> Result<TokenFile, TokenError> {
    let token = random_b64url(43);
    let content = format!("{token}.{}", random_b64url(43));
    let root = openat(
        AT_FDCWD,
        webroot,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| TokenError::Webroot(format!("{}: {e}", webroot.display())))?;
    let mut created = Vec::new();
    let mut parent = dup(&root)?;
    let mut rel = PathBuf::new();
    for name in DIRS {
        rel.push(name);
        match open_or_make_dir(&root, &parent, &rel, name, webroot, &mut created) {
            Ok(dir) => parent = dir,
            Err(e) => {
                // What was made so far goes again, whichever step failed (a full disk can
                // refuse the second mkdir after the first one worked).
                cleanup_created(&created);
                return Err(e);
            }
        }
    }
    let sibling = sibling_stat(&parent);
    let dir_stat = fstat(&parent).map_err(|e| TokenError::Write(e.to_string()));
    let mode = sibling.map_or(0o644, |s| s.st_mode & 0o777);
    let file = openat(
        &parent,
        token.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    );
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            cleanup_created(&created);
            return Err(TokenError::Write(format!(
                "{}: {e}",
                webroot.join(&rel).join(&token).display()
            )));
        }
    };
    let live = Arc::new(Mutex::new(Live {
        dir: parent,
        name: token.clone(),
        created,
        removed: false,
    }));
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&live));
    let token_file = TokenFile {
        token: token.clone(),
        content: content.clone(),
        path: webroot.join(&rel).join(&token),
        live,
    };
    // From here on dropping `token_file` removes everything.
    match (sibling, dir_stat) {
        (Some(s), _) => chown_like(&file, &s),
        (None, Ok(d)) => chown_like(&file, &d),
        (None, Err(_)) => {}
    }
    // umask may have narrowed the mode given to open.
    let _ = nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(mode));
    let mut f = std::fs::File::from(file);
    f.write_all(content.as_bytes())
        .map_err(|e| TokenError::Write(format!("{}: {e}", token_file.path.display())))?;
    Ok(token_file)
}

/// Opens the directory `name` of `parent`, making it when missing; a directory made is
/// recorded in `created` at once, so the caller can remove it whatever fails next.
fn open_or_make_dir(
    root: &OwnedFd,
    parent: &OwnedFd,
    rel: &Path,
    name: &str,
    webroot: &Path,
    created: &mut Vec<(OwnedFd, String)>,
) -> Result<OwnedFd, TokenError> {
    match open_beneath(root, parent, rel, name) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) => {
            let owner = fstat(parent).map_err(|e| TokenError::Write(e.to_string()))?;
            let parent_copy = dup(parent)?;
            mkdirat(parent, name, Mode::from_bits_truncate(0o755)).map_err(|e| {
                TokenError::Write(format!("mkdir {}: {e}", webroot.join(rel).display()))
            })?;
            created.push((parent_copy, name.to_string()));
            let fd = open_beneath(root, parent, rel, name)
                .map_err(|e| escape_or_write(e, webroot, rel))?;
            chown_like(&fd, &owner);
            Ok(fd)
        }
        Err(e) => Err(escape_or_write(e, webroot, rel)),
    }
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, TokenError> {
    fd.try_clone().map_err(|e| TokenError::Write(e.to_string()))
}

fn escape_or_write(e: Errno, webroot: &Path, rel: &Path) -> TokenError {
    let shown = webroot.join(rel).display().to_string();
    match e {
        Errno::EXDEV | Errno::ELOOP | Errno::ENOTDIR => TokenError::Escapes(shown),
        other => TokenError::Write(format!("{shown}: {other}")),
    }
}

/// Opens `rel` (below `root`) as a directory, never resolving outside `root`. Without
/// `openat2`, opens `name` in `parent` without following a symlink.
fn open_beneath(
    root: &OwnedFd,
    parent: &OwnedFd,
    rel: &Path,
    name: &str,
) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(root, rel, how) {
        Err(Errno::ENOSYS | Errno::EPERM) => {
            openat(parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty())
        }
        other => other,
    }
}

fn cleanup_created(created: &[(OwnedFd, String)]) {
    for (parent, name) in created.iter().rev() {
        let _ = unlinkat(parent, name.as_str(), UnlinkatFlags::RemoveDir);
    }
}

/// The first regular file in the directory: the files the ACME client writes look like it.
fn sibling_stat(dir: &OwnedFd) -> Option<FileStat> {
    let fd = dir.try_clone().ok()?;
    let listing = nix::dir::Dir::from_fd(fd).ok()?;
    let mut listing = listing;
    for entry in listing.iter().flatten() {
        let name = entry.file_name();
        if name.to_bytes().starts_with(b".") {
            continue;
        }
        if let Ok(st) = fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            && st.st_mode & libc_s_ifmt() == 0o100000
        {
            return Some(st);
        }
    }
    None
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

/// Gives `fd` the owner of `like`, when this process may (root); otherwise leaves it ours.
fn chown_like(fd: &OwnedFd, like: &FileStat) {
    if geteuid().is_root() {
        let _ = fchown(
            fd,
            Some(Uid::from_raw(like.st_uid)),
            Some(Gid::from_raw(like.st_gid)),
        );
    }
}

/// `len` random base64url characters: the alphabet of ACME tokens.
pub(crate) fn random_b64url(len: usize) -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("acme-doctor-token-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn creates_the_file_and_the_missing_dirs_then_removes_them() {
        let root = scratch("fresh");
        let t = create(&root).unwrap();
        let body = std::fs::read_to_string(t.path()).unwrap();
        assert_eq!(body, t.content());
        assert!(body.starts_with(&format!("{}.", t.token())));
        assert!(root.join(".well-known/acme-challenge").is_dir());
        let mode = std::fs::metadata(t.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        t.remove();
        assert!(
            !root.join(".well-known").exists(),
            "created dirs are removed"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn existing_dirs_and_files_stay_and_the_siblings_mode_is_copied() {
        let root = scratch("siblings");
        let dir = root.join(".well-known/acme-challenge");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("other"), "x").unwrap();
        std::fs::set_permissions(dir.join("other"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let t = create(&root).unwrap();
        let mode = std::fs::metadata(t.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let path = t.path().to_path_buf();
        drop(t);
        assert!(!path.exists());
        assert!(dir.join("other").exists() && dir.is_dir());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_symlink_out_of_the_webroot_is_refused_and_nothing_is_written() {
        let root = scratch("trap");
        let outside = scratch("trap-outside");
        std::os::unix::fs::symlink(&outside, root.join(".well-known")).unwrap();
        let err = create(&root).unwrap_err();
        assert!(matches!(err, TokenError::Escapes(_)), "{err:?}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!any_live_for_test(&root));
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn a_symlink_inside_the_webroot_is_followed() {
        let root = scratch("inside");
        std::fs::create_dir_all(root.join("shared/acme-challenge")).unwrap();
        std::os::unix::fs::symlink("shared", root.join(".well-known")).unwrap();
        match create(&root) {
            Ok(t) => {
                assert!(root.join("shared/acme-challenge").join(t.token()).exists());
                drop(t);
                assert_eq!(
                    std::fs::read_dir(root.join("shared/acme-challenge"))
                        .unwrap()
                        .count(),
                    0
                );
            }
            // A kernel without openat2 follows no symlink at all: refused, never written.
            Err(e) => assert!(matches!(e, TokenError::Escapes(_)), "{e:?}"),
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn remove_all_removes_what_is_live() {
        let root = scratch("all");
        let t = create(&root).unwrap();
        let path = t.path().to_path_buf();
        remove_all();
        assert!(!path.exists());
        assert!(!root.join(".well-known").exists());
        drop(t); // a second removal is harmless
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn any_live_for_test(root: &Path) -> bool {
        root.join(".well-known/acme-challenge").exists()
    }
}
