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
//! - for a webroot a user's client configuration names, [`create_as`] writes with that
//!   user's permissions, so root never writes where the user could not;
//! - each refusal says what stands in the way: a file or FIFO where a directory belongs, a
//!   symlink out of the webroot (with its target), a symlink loop. An absolute symlink that
//!   points inside the webroot is followed there.
//! - it and every directory created for it are removed on drop, and by [`remove_all`], which
//!   the CLI registers with its one signal handler (`cli::signals::on_interrupt`) for Ctrl-C
//!   and SIGTERM.
//!
//! The API is small because `--all` creates one token per certificate webroot.

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat, mkdirat};
use nix::unistd::{
    Gid, Uid, UnlinkatFlags, User, fchown, geteuid, getgrouplist, setfsgid, setfsuid, unlinkat,
};
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
    /// A path component leads out of the webroot: a symlink to a place outside it (`target`,
    /// when it could be read).
    Escapes {
        path: String,
        target: Option<String>,
    },
    /// A path component is something other than a directory (`what`: "a regular file",
    /// "a FIFO", ...), so nothing can be written below it.
    NotADirectory { path: String, what: String },
    /// A path component exists but could not be opened as a directory nor made one (a
    /// symlink to a missing place, or something made there meanwhile).
    Exists { path: String, why: String },
    /// A symlink not followed: a loop, or, on a kernel without `openat2`, any symlink.
    Symlink { path: String, why: String },
    /// The configuration's owner, whose permissions the token is written with, may not
    /// write there.
    NotPermitted(String),
    /// Creating a directory or the file failed.
    Write(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Webroot(m) => write!(f, "cannot open the webroot: {m}"),
            TokenError::Escapes {
                path,
                target: Some(t),
            } => write!(
                f,
                "refused: {path} is a symlink to {t}, outside the webroot; no file was written"
            ),
            TokenError::Escapes { path, target: None } => write!(
                f,
                "refused: {path} leads out of the webroot; no file was written"
            ),
            TokenError::NotADirectory { path, what } => write!(
                f,
                "refused: {path} is {what}, not a directory; no file was written"
            ),
            TokenError::Exists { path, why } => write!(
                f,
                "refused: {path} exists but is not a directory that can be opened ({why}); no file was written"
            ),
            TokenError::Symlink { path, why } => {
                write!(f, "refused: {path} is {why}; no file was written")
            }
            TokenError::NotPermitted(m) => write!(f, "not written: {m}"),
            TokenError::Write(m) => write!(f, "cannot write the challenge file: {m}"),
        }
    }
}

/// Whose permissions a token is written with: the owner of the client configuration that
/// named the webroot, so that root never writes where that user could not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Writer {
    pub uid: u32,
    pub gid: u32,
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

/// Writes a fresh token file under `webroot/.well-known/acme-challenge/`, with this process's
/// permissions.
pub fn create(webroot: &Path) -> Result<TokenFile, TokenError> {
    write_token(webroot, None, None)
}

/// A challenge the CA gave (`--ca-check`): its token as the file's name, the key
/// authorization as its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub token: String,
    pub content: String,
}

/// Writes the CA's own challenge file (`--ca-check`), with `writer`'s permissions when one is
/// given, by the same safe steps as [`create`]. The token must be base64url (RFC 8555 §8.3),
/// so it can never name a path.
pub fn create_given(
    webroot: &Path,
    given: &Given,
    writer: Option<&Writer>,
) -> Result<TokenFile, TokenError> {
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if given.token.is_empty() || given.token.len() > 256 || !given.token.chars().all(base64url) {
        return Err(TokenError::Write(
            "the CA's token is not base64url; no file was written".into(),
        ));
    }
    match writer {
        Some(w) if w.uid != 0 && geteuid().is_root() => {
            let as_writer = as_writer(w);
            let webroot = webroot.to_path_buf();
            let given = given.clone();
            std::thread::Builder::new()
                .name("token-writer".into())
                .spawn(move || {
                    take_identity(&as_writer)?;
                    write_token(&webroot, Some(&as_writer), Some(&given))
                })
                .map_err(|e| TokenError::Write(format!("cannot start the writer thread: {e}")))?
                .join()
                .unwrap_or_else(|_| Err(TokenError::Write("the writer thread failed".into())))
        }
        _ => write_token(webroot, None, Some(given)),
    }
}

/// Takes the writer's filesystem identity on this thread (see [`create_as`]).
fn take_identity(as_writer: &AsWriter) -> Result<(), TokenError> {
    setfsgid(Gid::from_raw(as_writer.gid));
    setfsuid(Uid::from_raw(as_writer.uid));
    // Both calls return the previous value whether or not they worked: asking again
    // tells whether they did.
    let uid_now = setfsuid(Uid::from_raw(as_writer.uid)).as_raw();
    let gid_now = setfsgid(Gid::from_raw(as_writer.gid)).as_raw();
    if uid_now != as_writer.uid || gid_now != as_writer.gid {
        return Err(TokenError::NotPermitted(format!(
            "cannot take the filesystem identity of uid {}",
            as_writer.uid
        )));
    }
    Ok(())
}

/// Writes a fresh token file with `writer`'s permissions: when this process is root and the
/// writer is not, on a thread of its own whose filesystem uid and gid are the writer's. A
/// non-zero fsuid drops the capabilities that override file permissions, so the kernel itself
/// checks the writer's permissions at every step; the fsuid is per thread on Linux, so the
/// rest of the run keeps root's, and the thread ends with the write. The thread keeps this
/// process's supplementary groups (root's), so each directory written into is also checked
/// against the writer's own groups here ([`may_write`]).
pub fn create_as(webroot: &Path, writer: &Writer) -> Result<TokenFile, TokenError> {
    if writer.uid == 0 || !geteuid().is_root() {
        // Root writes as root; a user's run has no more rights than that user.
        return create(webroot);
    }
    let as_writer = as_writer(writer);
    let webroot = webroot.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("token-writer".into())
        .spawn(move || {
            take_identity(&as_writer)?;
            write_token(&webroot, Some(&as_writer), None)
        })
        .map_err(|e| TokenError::Write(format!("cannot start the writer thread: {e}")))?;
    thread
        .join()
        .unwrap_or_else(|_| Err(TokenError::Write("the writer thread failed".into())))
}

/// A writer with the groups it is a member of.
struct AsWriter {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

/// The writer with its groups as the user database has them: its primary group and every
/// group it is a member of now. A uid without an entry has only the file's group, which its
/// owner had to be a member of to give it.
fn as_writer(writer: &Writer) -> AsWriter {
    if let Ok(Some(user)) = User::from_uid(Uid::from_raw(writer.uid)) {
        let mut groups = vec![user.gid.as_raw()];
        if let Ok(name) = std::ffi::CString::new(user.name)
            && let Ok(list) = getgrouplist(&name, user.gid)
        {
            groups.extend(list.into_iter().map(|g| g.as_raw()));
        }
        return AsWriter {
            uid: writer.uid,
            gid: user.gid.as_raw(),
            groups,
        };
    }
    AsWriter {
        uid: writer.uid,
        gid: writer.gid,
        groups: vec![writer.gid],
    }
}

/// Whether `writer` may create entries in the directory `dir` by its mode bits (owner, else
/// group, else others: the first class that matches decides, as in the kernel). ACLs are not
/// read: a directory writable only through one is refused, the safe side.
fn may_write(dir: &OwnedFd, writer: &AsWriter) -> bool {
    let Ok(st) = fstat(dir) else {
        return false;
    };
    let bits = if st.st_uid == writer.uid {
        st.st_mode >> 6
    } else if writer.groups.contains(&st.st_gid) {
        st.st_mode >> 3
    } else {
        st.st_mode
    };
    bits & 0o3 == 0o3
}

fn write_token(
    webroot: &Path,
    writer: Option<&AsWriter>,
    given: Option<&Given>,
) -> Result<TokenFile, TokenError> {
    let (token, content) = match given {
        Some(g) => (g.token.clone(), g.content.clone()),
        None => {
            let token = random_b64url(43);
            let content = format!("{token}.{}", random_b64url(43));
            (token, content)
        }
    };
    let root = openat(
        AT_FDCWD,
        webroot,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match (e, writer) {
        (Errno::EACCES, Some(w)) => TokenError::NotPermitted(format!(
            "uid {} may not open {}: {e}",
            w.uid,
            webroot.display()
        )),
        _ => TokenError::Webroot(format!("{}: {e}", webroot.display())),
    })?;
    let permitted = |dir: &OwnedFd, rel: &Path| match writer {
        Some(w) if !may_write(dir, w) => Err(TokenError::NotPermitted(format!(
            "uid {} may not write in {}",
            w.uid,
            if rel.as_os_str().is_empty() {
                webroot.to_path_buf()
            } else {
                webroot.join(rel)
            }
            .display()
        ))),
        _ => Ok(()),
    };
    let mut created = Vec::new();
    let mut parent = dup(&root)?;
    let mut rel = PathBuf::new();
    for name in DIRS {
        let at = rel.join(name);
        let opened = match open_beneath(&root, &parent, &at, name) {
            // An absolute link that points inside the webroot is followed there.
            Err(
                fail @ Fail {
                    errno: Errno::EXDEV,
                    ..
                },
            ) => match absolute_link_inside(webroot, &parent, name) {
                Some(inside) => open_beneath(&root, &parent, &inside, name)
                    .map(|fd| (fd, inside))
                    .map_err(|f| (f, at.clone())),
                None => Err((fail, at.clone())),
            },
            other => other
                .map(|fd| (fd, at.clone()))
                .map_err(|f| (f, at.clone())),
        };
        let dir = match opened {
            Ok((fd, now)) => {
                rel = now;
                fd
            }
            Err((
                Fail {
                    errno: Errno::ENOENT,
                    ..
                },
                at,
            )) => {
                if let Err(e) = permitted(&parent, &rel) {
                    cleanup_created(&created);
                    return Err(e);
                }
                let owner = match fstat(&parent) {
                    Ok(owner) => owner,
                    Err(e) => {
                        cleanup_created(&created);
                        return Err(TokenError::Write(e.to_string()));
                    }
                };
                if let Err(e) = mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
                    cleanup_created(&created);
                    return Err(match e {
                        Errno::EEXIST => TokenError::Exists {
                            path: webroot.join(&at).display().to_string(),
                            why: what_stands(&parent, name)
                                .unwrap_or_else(|| "it appeared meanwhile".into()),
                        },
                        Errno::EACCES | Errno::EPERM if writer.is_some() => {
                            TokenError::NotPermitted(format!(
                                "mkdir {}: {e}",
                                webroot.join(&at).display()
                            ))
                        }
                        _ => {
                            TokenError::Write(format!("mkdir {}: {e}", webroot.join(&at).display()))
                        }
                    });
                }
                let fd = match open_beneath(&root, &parent, &at, name) {
                    Ok(fd) => fd,
                    Err(f) => {
                        let _ = unlinkat(&parent, name, UnlinkatFlags::RemoveDir);
                        cleanup_created(&created);
                        return Err(refusal(f, webroot, &at, &parent, name));
                    }
                };
                chown_like(&fd, &owner);
                // Recorded the moment it exists: whichever later step fails (a full disk can
                // refuse the next mkdir after this one worked), it goes again.
                match dup(&parent) {
                    Ok(p) => created.push((p, name.to_string())),
                    Err(e) => {
                        let _ = unlinkat(&parent, name, UnlinkatFlags::RemoveDir);
                        cleanup_created(&created);
                        return Err(e);
                    }
                }
                rel = at;
                fd
            }
            Err((f, at)) => {
                // What was made so far goes again.
                cleanup_created(&created);
                return Err(refusal(f, webroot, &at, &parent, name));
            }
        };
        parent = dir;
    }
    if let Err(e) = permitted(&parent, &rel) {
        cleanup_created(&created);
        return Err(e);
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
            let shown = webroot.join(&rel).join(&token).display().to_string();
            return Err(match e {
                Errno::EACCES | Errno::EPERM if writer.is_some() => {
                    TokenError::NotPermitted(format!("{shown}: {e}"))
                }
                _ => TokenError::Write(format!("{shown}: {e}")),
            });
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

fn dup(fd: &OwnedFd) -> Result<OwnedFd, TokenError> {
    fd.try_clone().map_err(|e| TokenError::Write(e.to_string()))
}

/// A failed open, and whether `openat2(RESOLVE_BENEATH)` made it (else the `O_NOFOLLOW`
/// fallback did).
#[derive(Debug, Clone, Copy)]
struct Fail {
    errno: Errno,
    beneath: bool,
}

/// The error for a component that could not be opened as a directory, in words that say
/// what stands there.
fn refusal(f: Fail, webroot: &Path, rel: &Path, parent: &OwnedFd, name: &str) -> TokenError {
    let path = webroot.join(rel).display().to_string();
    match f.errno {
        Errno::ENOTDIR => TokenError::NotADirectory {
            path,
            what: what_stands(parent, name).unwrap_or_else(|| "something".into()),
        },
        Errno::ELOOP if f.beneath => TokenError::Symlink {
            path,
            why: "a symlink loop, or a chain of too many symlinks".into(),
        },
        Errno::ELOOP => TokenError::Symlink {
            path,
            why: "a symlink, and without openat2 (Linux 5.6) no symlink is followed".into(),
        },
        Errno::EXDEV => TokenError::Escapes {
            path,
            target: link_target(parent, name).map(|t| crate::sanitize::line(&t, 300)),
        },
        Errno::EAGAIN => TokenError::Write(format!(
            "{path}: the webroot changed while it was being resolved; try again"
        )),
        other => TokenError::Write(format!("{path}: {other}")),
    }
}

/// What `name` in `parent` is, in words ("a regular file", "a FIFO", "a symlink to X").
fn what_stands(parent: &OwnedFd, name: &str) -> Option<String> {
    let st = fstatat(
        parent.as_fd(),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ok()?;
    Some(match st.st_mode & S_IFMT {
        0o100000 => "a regular file".into(),
        0o010000 => "a FIFO".into(),
        0o020000 => "a character device".into(),
        0o060000 => "a block device".into(),
        0o140000 => "a socket".into(),
        0o040000 => "a directory".into(),
        0o120000 => match link_target(parent, name) {
            Some(t) => format!(
                "a symlink to {}, which is missing or not a directory",
                crate::sanitize::line(&t, 300)
            ),
            None => "a symlink".into(),
        },
        _ => "not a plain file".into(),
    })
}

fn link_target(parent: &OwnedFd, name: &str) -> Option<String> {
    nix::fcntl::readlinkat(parent, name)
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// When `name` in `parent` is an absolute symlink into the webroot (`/srv/www/shared` in
/// `/srv/www`), its target as a path relative to the webroot, to be opened beneath it again
/// (`RESOLVE_BENEATH` refuses absolute links outright).
fn absolute_link_inside(webroot: &Path, parent: &OwnedFd, name: &str) -> Option<PathBuf> {
    let target = PathBuf::from(link_target(parent, name)?);
    if !target.is_absolute() {
        return None;
    }
    let real = std::fs::canonicalize(webroot).ok()?;
    let inside = target
        .strip_prefix(&real)
        .or_else(|_| target.strip_prefix(webroot))
        .ok()?;
    // The link names the webroot itself: open it as `.`.
    Some(if inside.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        inside.to_path_buf()
    })
}

/// Opens `rel` (below `root`) as a directory, never resolving outside `root`. Without
/// `openat2`, opens `name` in `parent` without following a symlink.
fn open_beneath(root: &OwnedFd, parent: &OwnedFd, rel: &Path, name: &str) -> Result<OwnedFd, Fail> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(root, rel, how) {
        Err(Errno::ENOSYS | Errno::EPERM) => {
            openat(parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty()).map_err(|errno| Fail {
                errno,
                beneath: false,
            })
        }
        other => other.map_err(|errno| Fail {
            errno,
            beneath: true,
        }),
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
            && st.st_mode & S_IFMT == 0o100000
        {
            return Some(st);
        }
    }
    None
}

const S_IFMT: u32 = 0o170000;

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
        assert!(matches!(err, TokenError::Escapes { .. }), "{err:?}");
        assert!(err.to_string().contains("outside the webroot"), "{err}");
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
            Err(e) => assert!(matches!(e, TokenError::Symlink { .. }), "{e:?}"),
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_cas_token_is_written_as_given_and_a_path_is_refused() {
        let root = scratch("given");
        let given = Given {
            token: "abc_DEF-123".into(),
            content: "abc_DEF-123.thumb".into(),
        };
        let t = create_given(&root, &given, None).unwrap();
        let at = root.join(".well-known/acme-challenge/abc_DEF-123");
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "abc_DEF-123.thumb");
        drop(t);
        assert!(!root.join(".well-known").exists());
        for bad in ["../x", "a/b", "", "a.b"] {
            let g = Given {
                token: bad.into(),
                content: "x".into(),
            };
            assert!(create_given(&root, &g, None).is_err(), "{bad}");
        }
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
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

    #[test]
    fn a_file_or_fifo_where_a_directory_belongs_is_named_as_such() {
        let root = scratch("notdir");
        std::fs::create_dir_all(root.join(".well-known")).unwrap();
        let at = root.join(".well-known/acme-challenge");
        std::fs::write(&at, "x").unwrap();
        let err = create(&root).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "acme-challenge is a regular file, not a directory; no file was written"
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("symlink"), "{err}");
        std::fs::remove_file(&at).unwrap();
        nix::unistd::mkfifo(&at, Mode::from_bits_truncate(0o644)).unwrap();
        let err = create(&root).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("acme-challenge is a FIFO, not a directory; no file was written"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_absolute_symlink_inside_the_webroot_is_followed_there() {
        let root = scratch("absolute");
        std::fs::create_dir_all(root.join("shared/acme-challenge")).unwrap();
        std::os::unix::fs::symlink(root.join("shared"), root.join(".well-known")).unwrap();
        match create(&root) {
            Ok(t) => {
                let there = root.join("shared/acme-challenge").join(t.token());
                assert_eq!(std::fs::read_to_string(&there).unwrap(), t.content());
                drop(t);
                assert!(!there.exists());
            }
            // A kernel without openat2 follows no symlink: refused in those words.
            Err(e) => assert!(matches!(e, TokenError::Symlink { .. }), "{e:?}"),
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_symlink_loop_is_named_as_a_loop() {
        let root = scratch("loop");
        std::os::unix::fs::symlink(".well-known", root.join(".well-known")).unwrap();
        let err = create(&root).unwrap_err();
        assert!(matches!(err, TokenError::Symlink { .. }), "{err:?}");
        assert!(!err.to_string().contains("outside"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_absolute_symlink_out_of_the_webroot_names_its_target() {
        let root = scratch("absolute-out");
        let outside = scratch("absolute-out-there");
        std::os::unix::fs::symlink(&outside, root.join(".well-known")).unwrap();
        let err = create(&root).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                ".well-known is a symlink to {}, outside the webroot",
                outside.display()
            )),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    /// Root writing for uid 65534 gets no more than 65534 has: not in a root-only directory,
    /// not in one only root's group may write (the writer thread keeps root's supplementary
    /// groups), and in 65534's own directory a file owned by 65534.
    #[test]
    fn a_token_written_as_another_user_goes_only_where_that_user_may_write() {
        if !geteuid().is_root() {
            eprintln!("skipped: needs root to act as another user");
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let nobody = Writer {
            uid: 65534,
            gid: 65534,
        };
        let base = scratch("as-owner");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (dir, mode) in [("rootonly", 0o700), ("rootgroup", 0o770)] {
            let webroot = base.join(dir);
            std::fs::create_dir(&webroot).unwrap();
            std::fs::set_permissions(&webroot, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = create_as(&webroot, &nobody).unwrap_err();
            assert!(matches!(err, TokenError::NotPermitted(_)), "{dir}: {err:?}");
            assert_eq!(std::fs::read_dir(&webroot).unwrap().count(), 0, "{dir}");
        }
        let own = base.join("own");
        std::fs::create_dir(&own).unwrap();
        nix::unistd::chown(&own, Some(Uid::from_raw(65534)), Some(Gid::from_raw(65534))).unwrap();
        let t = create_as(&own, &nobody).unwrap();
        let meta = std::fs::metadata(t.path()).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(
            std::fs::metadata(own.join(".well-known")).unwrap().uid(),
            65534
        );
        drop(t);
        assert!(!own.join(".well-known").exists());
        // The calling thread kept root's identity.
        assert!(create(&base.join("rootonly")).is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn may_write_reads_the_mode_bits_of_the_first_class_that_matches() {
        if !geteuid().is_root() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let dir = scratch("may-write");
        let check = |mode: u32, owner: u32, group: u32, writer: &AsWriter| {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            nix::unistd::chown(&dir, Some(Uid::from_raw(owner)), Some(Gid::from_raw(group)))
                .unwrap();
            let fd = openat(
                AT_FDCWD,
                &dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                Mode::empty(),
            )
            .unwrap();
            may_write(&fd, writer)
        };
        let nobody = AsWriter {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        let in_root_group = AsWriter {
            groups: vec![65534, 0],
            ..nobody
        };
        // Only root's group may write: not a user outside it, whatever groups the thread has.
        assert!(!check(0o770, 0, 0, &nobody));
        assert!(check(0o770, 0, 0, &in_root_group));
        assert!(check(0o755, 65534, 65534, &nobody));
        // The owner's bits decide for the owner, even when others may write.
        assert!(!check(0o577, 65534, 0, &nobody));
        assert!(check(0o707, 0, 0, &nobody));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn any_live_for_test(root: &Path) -> bool {
        root.join(".well-known/acme-challenge").exists()
    }
}
