//! Files that root reads on a user's behalf (ACME client configurations, the certificates
//! they name): any user may have planted them, so they are read as untrusted input.
//!
//! - The type is checked before anything is opened, so a device or FIFO is never opened at
//!   all; the open itself is `O_NONBLOCK` (a FIFO swapped in meanwhile cannot block it),
//!   `O_NOCTTY`, `O_CLOEXEC`, and `O_NOFOLLOW` where links are not followed;
//! - `fstat` on the opened descriptor must show a regular file, else the file is skipped with
//!   a reason ("a FIFO", "a symlink", ...); the bytes are read through that descriptor only;
//! - the size is capped per kind ([`CONFIG_CAP`], [`CERTIFICATE_CAP`]);
//! - [`trust`] decides, from the same `fstat`, whether what the file says may make root act
//!   (write a token): see its rule.

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{FileStat, Mode, fstat};
use std::fmt;
use std::io::Read;
use std::path::{Component, Path};

/// A client configuration: a renewal conf is under 2 KB, but Traefik's `acme.json` keeps every
/// certificate and key it holds (a few MB for a few hundred).
pub const CONFIG_CAP: u64 = 16 * 1024 * 1024;
/// A certificate file: a PEM chain is a few KB.
pub const CERTIFICATE_CAP: u64 = 1024 * 1024;

/// Whether the last component may be a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Configurations: a user's link to a root-only file must not be read as root.
    NotFollowed,
    /// Certificates: certbot's `live/` holds nothing but links into `archive/`. What is read
    /// there is parsed as a certificate and never printed.
    Followed,
}

/// A regular file's bytes and who owns it, from the `fstat` of the descriptor they were read
/// through.
#[derive(Debug, Clone)]
pub struct UserFile {
    pub bytes: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Why a file was not read.
#[derive(Debug)]
pub enum Skipped {
    Missing,
    /// Not a regular file: what it is ("a FIFO", "a symlink").
    NotRegular(&'static str),
    TooLarge {
        cap: u64,
    },
    Io(std::io::Error),
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skipped::Missing => write!(f, "does not exist"),
            Skipped::NotRegular(what) => write!(f, "{what}, not a regular file; skipped"),
            Skipped::TooLarge { cap } => write!(f, "larger than {cap} bytes; not read"),
            Skipped::Io(e) => write!(f, "{e}"),
        }
    }
}

const S_IFMT: u32 = 0o170000;

fn kind(mode: u32) -> Option<&'static str> {
    match mode & S_IFMT {
        0o100000 => None,
        0o010000 => Some("a FIFO"),
        0o020000 => Some("a character device"),
        0o060000 => Some("a block device"),
        0o140000 => Some("a socket"),
        0o120000 => Some("a symlink"),
        0o040000 => Some("a directory"),
        _ => Some("not a plain file"),
    }
}

fn file_type_kind(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        None
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_symlink() {
        Some("a symlink")
    } else if t.is_dir() {
        Some("a directory")
    } else {
        Some("not a plain file")
    }
}

/// Opens `path` if it is a regular file: the descriptor, and its `fstat`, through which the
/// caller reads what it will.
pub fn open_regular(path: &Path, links: Links) -> Result<(std::fs::File, FileStat), Skipped> {
    let before = match links {
        Links::NotFollowed => std::fs::symlink_metadata(path),
        Links::Followed => std::fs::metadata(path),
    };
    match before {
        Ok(m) => {
            if let Some(what) = file_type_kind(m.file_type()) {
                return Err(Skipped::NotRegular(what));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Skipped::Missing),
        Err(e) => return Err(Skipped::Io(e)),
    }
    let mut flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    if links == Links::NotFollowed {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = match open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Err(Skipped::Missing),
        // Swapped for a link between the check and the open.
        Err(Errno::ELOOP) if links == Links::NotFollowed => {
            return Err(Skipped::NotRegular("a symlink"));
        }
        Err(e) => return Err(Skipped::Io(std::io::Error::from(e))),
    };
    let st = fstat(&fd).map_err(|e| Skipped::Io(std::io::Error::from(e)))?;
    if let Some(what) = kind(st.st_mode) {
        return Err(Skipped::NotRegular(what));
    }
    Ok((std::fs::File::from(fd), st))
}

/// Reads `path` if it is a regular file of at most `cap` bytes.
pub fn read(path: &Path, links: Links, cap: u64) -> Result<UserFile, Skipped> {
    let (file, st) = open_regular(path, links)?;
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > cap {
        return Err(Skipped::TooLarge { cap });
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(Skipped::Io)?;
    if bytes.len() as u64 > cap {
        return Err(Skipped::TooLarge { cap });
    }
    Ok(UserFile {
        bytes,
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode,
    })
}

/// Whether what a configuration file says may make root act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Act as this owner: a token is written with the owner's permissions.
    Owner { uid: u32, gid: u32 },
    /// Listed, never acted on, and why.
    Untrusted(String),
}

/// The rule, from the file's `fstat`:
/// - writable by group or others (mode `& 0o022`): not trusted, whoever owns it, since
///   someone other than its owner may have written it;
/// - inside a home, `ROOT/root/…` or `ROOT/home/NAME/…` (`ROOT` being `/` or the test root):
///   trusted only when owned by the owner of that home directory (`lstat`, not followed); a
///   file of bob's, or root's, under alice's home is not;
/// - anywhere else (`/etc`, `/var/lib`, a `--client-config` path): trusted as its owner.
///
/// A trusted file acts as its owner: root-owned files under `/etc` and `/root` as root, as
/// before; a user's as that user.
pub fn trust(path: &Path, root: &Path, file: &UserFile) -> Trust {
    if file.mode & 0o022 != 0 {
        return Trust::Untrusted(format!(
            "writable by {} (mode {:04o})",
            if file.mode & 0o002 != 0 {
                "others"
            } else {
                "its group"
            },
            file.mode & 0o7777
        ));
    }
    if let Some(home) = home_of(path, root) {
        match std::fs::symlink_metadata(&home) {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                if m.uid() != file.uid {
                    return Trust::Untrusted(format!(
                        "owned by uid {}, not by uid {} who owns the home {}",
                        file.uid,
                        m.uid(),
                        show(&home)
                    ));
                }
            }
            Err(e) => {
                return Trust::Untrusted(format!(
                    "the owner of its home {} is unknown: {e}",
                    show(&home)
                ));
            }
        }
    }
    Trust::Owner {
        uid: file.uid,
        gid: file.gid,
    }
}

/// `ROOT/root` or `ROOT/home/NAME` when `path` lies below one.
fn home_of(path: &Path, root: &Path) -> Option<std::path::PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = rel.components().filter(|c| !matches!(c, Component::CurDir));
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Component::Normal(first)), Some(_), _) if first == "root" => Some(root.join("root")),
        (Some(Component::Normal(first)), Some(Component::Normal(name)), Some(_))
            if first == "home" =>
        {
            Some(root.join("home").join(name))
        }
        _ => None,
    }
}

/// A path as facts show it.
pub fn show(path: &Path) -> String {
    crate::sanitize::line(&path.display().to_string(), 500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::clients::testdir::TempTree;

    #[test]
    fn a_fifo_is_skipped_without_blocking() {
        let t = TempTree::new("userfile-fifo");
        let fifo = t.path().join("x.conf");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
        for links in [Links::NotFollowed, Links::Followed] {
            match read(&fifo, links, CONFIG_CAP) {
                Err(Skipped::NotRegular("a FIFO")) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_symlink_is_read_only_when_links_are_followed() {
        let t = TempTree::new("userfile-link");
        let target = t.write("target", "secret");
        let link = t.path().join("x.conf");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            read(&link, Links::NotFollowed, CONFIG_CAP),
            Err(Skipped::NotRegular("a symlink"))
        ));
        assert_eq!(
            read(&link, Links::Followed, CONFIG_CAP).unwrap().bytes,
            b"secret"
        );
        assert!(matches!(
            read(t.path(), Links::Followed, CONFIG_CAP),
            Err(Skipped::NotRegular("a directory"))
        ));
    }

    #[test]
    fn a_file_over_its_cap_is_not_read() {
        let t = TempTree::new("userfile-cap");
        let f = t.write("big", &"x".repeat(2000));
        assert!(matches!(
            read(&f, Links::NotFollowed, 1000),
            Err(Skipped::TooLarge { cap: 1000 })
        ));
        assert_eq!(
            read(&f, Links::NotFollowed, 2000).unwrap().bytes.len(),
            2000
        );
    }

    #[test]
    fn the_home_of_a_path_is_found_under_the_root() {
        let root = Path::new("/t");
        assert_eq!(
            home_of(Path::new("/t/home/alice/.acme.sh/x/x.conf"), root),
            Some("/t/home/alice".into())
        );
        assert_eq!(
            home_of(Path::new("/t/root/.acme.sh/x/x.conf"), root),
            Some("/t/root".into())
        );
        assert_eq!(home_of(Path::new("/t/etc/letsencrypt/x.conf"), root), None);
        assert_eq!(home_of(Path::new("/t/home/alice"), root), None);
        assert_eq!(home_of(Path::new("/elsewhere/x.conf"), root), None);
    }

    #[test]
    fn group_or_other_writable_files_are_not_trusted() {
        let file = |mode: u32| UserFile {
            bytes: Vec::new(),
            uid: 0,
            gid: 0,
            mode: 0o100000 | mode,
        };
        let at = Path::new("/nonexistent-root/etc/x.conf");
        let root = Path::new("/nonexistent-root");
        assert_eq!(
            trust(at, root, &file(0o644)),
            Trust::Owner { uid: 0, gid: 0 }
        );
        assert!(
            matches!(trust(at, root, &file(0o664)), Trust::Untrusted(w) if w.contains("its group"))
        );
        assert!(
            matches!(trust(at, root, &file(0o646)), Trust::Untrusted(w) if w.contains("others"))
        );
    }
}
