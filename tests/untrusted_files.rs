//! Files that a root run reads on users' behalf are read like an untrusted user's: a FIFO
//! planted as a client configuration is skipped (the run ends), a symlink to a root-only file
//! is never read (its content appears in no output), a configuration owned by someone other
//! than its home's owner gets no token written for it, a user's configuration gets a token
//! only where that user may write, and `--webroot` says what stands in its way.
//!
//! Everything lives in a test root under the temp dir, handed over with the hidden
//! `--client-root`; the machine's own `/etc`, `/home` and `/root` are never read for it.
//! Names are looked up at a loopback port where nothing answers.

// Tests panic on purpose: a broken fixture should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OFFLINE: &[&str] = &[
    "--resolver",
    "127.0.0.1:9",
    "--timeout",
    "200ms",
    "--no-progress",
    "--color",
    "never",
];

/// A test root, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(tag: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "acme-doctor-untrusted-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Other uids must be able to reach what is theirs below it.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Tree(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn dir(&self, rel: &str, mode: u32) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn root(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    /// A healthy acme.sh conf of root's, so `--all` has a certificate to go on with.
    fn with_roots_own_conf(&self) {
        self.write(
            "/root/.acme.sh/ok.example.test/ok.example.test.conf",
            "Le_Domain='ok.example.test'\nLe_Alt='no'\nLe_Webroot='/var/www/ok'\n",
        );
        self.dir("/var/www/ok", 0o755);
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chown(path: &Path, uid: u32) {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(uid)),
    )
    .unwrap();
}

/// Whether this test can run: it must act as root over files of other uids. Under CI=true
/// it cannot be skipped.
fn root_available(test: &str) -> bool {
    if common::is_root() {
        return true;
    }
    if common::in_ci() {
        panic!("{test} needs root under CI=true");
    }
    common::announce_skip(test, "not root (it chowns files to other uids)");
    false
}

/// Runs acme-doctor, killed (by its own pid) if it outlives `limit`.
fn run_within(args: &[&str], limit: Duration) -> (common::Run, Duration) {
    let start = Instant::now();
    let mut child = Command::new(common::BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("acme-doctor {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.into(), start.elapsed())
}

fn args<'a>(root: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--all", "--client-root", root];
    a.extend_from_slice(extra);
    a.extend_from_slice(OFFLINE);
    a
}

/// A directory's modification time to the nanosecond: creating and removing an entry in it
/// changes it, even when nothing is left afterwards.
fn mtime(path: &Path) -> (i64, i64) {
    let m = std::fs::metadata(path).unwrap();
    (m.mtime(), m.mtime_nsec())
}

#[test]
fn a_fifo_planted_as_an_acme_sh_conf_is_skipped_and_the_run_ends() {
    let t = Tree::new("fifo");
    t.with_roots_own_conf();
    let dir = t.dir("/home/alice/.acme.sh/x.example.test", 0o755);
    let fifo = dir.join("x.example.test.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let root = t.root();
    let (run, took) = run_within(&args(&root, &[]), Duration::from_secs(30));
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let want = format!(
        "acme-doctor: warning: {}: a FIFO, not a regular file; skipped",
        fifo.display()
    );
    assert!(run.stderr.contains(&want), "{}", run.stderr);
    assert!(run.stdout.contains("ok.example.test"), "{}", run.stdout);
    eprintln!("--all with a planted FIFO ended in {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_symlink_to_a_root_only_file_and_a_bad_line_are_never_quoted() {
    const SECRET: &str = "root:$6$SECRETHASHxyz:19000:0:99999:7:::";
    const LINE: &str = "LINEMARKER$6$notavariable";
    let t = Tree::new("symlink");
    t.with_roots_own_conf();
    let shadow = t.write(
        "/etc/shadow",
        &format!("{SECRET}\ndaemon:*:19000:0:99999:7:::\n"),
    );
    std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = t.dir("/home/alice/.acme.sh/x.example.test", 0o755);
    let link = dir.join("x.example.test.conf");
    std::os::unix::fs::symlink(&shadow, &link).unwrap();
    // A regular conf with a line that is no variable: named by its line, never quoted.
    let bad = t.write(
        "/home/alice/.acme.sh/y.example.test/y.example.test.conf",
        &format!("Le_Domain='y.example.test'\n{LINE}\nLe_Webroot='no'\n"),
    );
    // The same link handed over in a --client-config directory.
    let extra = t.dir("/srv/confs", 0o755);
    std::os::unix::fs::symlink(&shadow, extra.join("z.conf")).unwrap();
    let root = t.root();
    let extra = extra.to_string_lossy().into_owned();
    for mode in [
        &[][..],
        &["--json"][..],
        &["--report"][..],
        &["--verbose"][..],
    ] {
        let mut a = args(&root, mode);
        a.extend_from_slice(&["--client-config", &extra]);
        let run = acme_doctor(&a);
        assert!(
            matches!(run.code, 0 | 1 | 3),
            "{mode:?}: exit {}: {}",
            run.code,
            run.stderr
        );
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            for marker in ["SECRETHASH", "daemon:*", "LINEMARKER"] {
                assert!(
                    !text.contains(marker),
                    "{mode:?}: {marker} in {stream}:\n{text}"
                );
            }
        }
        if mode.is_empty() {
            for (path, says) in [
                (
                    link.clone(),
                    "a symlink, not a regular file; skipped".to_string(),
                ),
                (
                    PathBuf::from(&extra).join("z.conf"),
                    "a symlink, not a regular file; skipped".to_string(),
                ),
                (bad.clone(), String::new()),
            ] {
                let want = if says.is_empty() {
                    format!("{}:2: not `NAME='value'`\n", path.display())
                } else {
                    format!("{}: {says}", path.display())
                };
                assert!(run.stderr.contains(&want), "{want}:\n{}", run.stderr);
            }
        }
    }
}

/// A conf of uid 65534 under a home of another uid is listed but not trusted; one of 65534
/// under 65534's own home is trusted as 65534, and gets no token where 65534 cannot write
/// (a 0700 root directory, a copy of an `/etc`-like directory). Root's own conf still gets its
/// token. The directories' modification times prove nothing was even created and removed.
#[test]
fn a_users_conf_gets_no_token_where_that_user_could_not_write() {
    if !root_available(
        "untrusted_files::a_users_conf_gets_no_token_where_that_user_could_not_write",
    ) {
        return;
    }
    let t = Tree::new("owner");
    t.with_roots_own_conf();
    let rootonly = t.dir("/srv/rootonly", 0o700);
    let etc = t.dir("/etc", 0o755);
    t.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    t.write("/etc/hostname", "lab\n");

    // bob's (uid 65534) conf in alice's (uid 1000) home.
    let alice = t.dir("/home/alice", 0o755);
    chown(&alice, 1000);
    let foreign = t.write(
        "/home/alice/.acme.sh/foreign.example.test/foreign.example.test.conf",
        "Le_Domain='foreign.example.test'\nLe_Alt='no'\nLe_Webroot='/srv/rootonly'\n",
    );
    chown(&foreign, 65534);
    // 65534's own confs in its own home.
    let nobody = t.dir("/home/nobody", 0o755);
    chown(&nobody, 65534);
    let mut own = Vec::new();
    for (name, webroot) in [
        ("own-rootonly.example.test", "/srv/rootonly"),
        ("own-etc.example.test", "/etc"),
    ] {
        let conf = t.write(
            &format!("/home/nobody/.acme.sh/{name}/{name}.conf"),
            &format!("Le_Domain='{name}'\nLe_Alt='no'\nLe_Webroot='{webroot}'\n"),
        );
        chown(&conf, 65534);
        own.push(conf);
    }

    let before = (mtime(&rootonly), mtime(&etc));
    let ok_before = mtime(&t.path("/var/www/ok"));
    let root = t.root();
    let run = acme_doctor(&args(&root, &["--report"]));
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    assert_eq!(
        (mtime(&rootonly), mtime(&etc)),
        before,
        "something was created under a directory uid 65534 cannot write:\n{}",
        run.stderr
    );
    assert!(!etc.join(".well-known").exists());
    assert_eq!(std::fs::read_dir(&rootonly).unwrap().count(), 0);
    // Root's own conf still had its round trip: a token came and went in its webroot.
    assert_ne!(mtime(&t.path("/var/www/ok")), ok_before, "{}", run.stderr);
    assert!(
        !run.stderr.contains("var/www/ok"),
        "root's own webroot took its token:\n{}",
        run.stderr
    );

    // The reasons, on stderr and in the report's listing.
    let untrusted = format!(
        "{}: not trusted: owned by uid 65534, not by uid 1000 who owns the home {}",
        foreign.display(),
        alice.display()
    );
    assert!(run.stderr.contains(&untrusted), "{}", run.stderr);
    assert!(run.stdout.contains(&untrusted), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "webroot {}: not written: its configuration is not trusted",
            rootonly.display()
        )),
        "{}",
        run.stderr
    );
    for (webroot, conf) in [(&rootonly, &own[0]), (&etc, &own[1])] {
        let said = format!(
            "webroot {}: not written: uid 65534 may not ",
            webroot.display()
        );
        assert!(run.stderr.contains(&said), "{said}\n{}", run.stderr);
        // The listing's warning names the configuration and the line of its webroot.
        let listed = format!("{}:3: {said}", conf.display());
        assert!(run.stdout.contains(&listed), "{listed}\n{}", run.stdout);
        assert!(
            run.stderr
                .contains("(as uid 65534, the owner of its configuration)"),
            "{}",
            run.stderr
        );
    }
    // Every name is still listed.
    for name in [
        "foreign.example.test",
        "own-rootonly.example.test",
        "own-etc.example.test",
    ] {
        assert!(run.stdout.contains(name), "{name}:\n{}", run.stdout);
    }

    // Each such name's diagnosis says, as information, that it had no real token, and why.
    let run = acme_doctor(&args(&root, &["--json"]));
    common::contract::parse_batch(&run.stdout);
    let batch = run.json();
    let reports = batch["results"].as_array().expect("one result per name");
    for (name, why) in [
        ("foreign.example.test", "its configuration is not trusted"),
        ("own-rootonly.example.test", "uid 65534 may not"),
        ("own-etc.example.test", "uid 65534 may not"),
    ] {
        let r = reports
            .iter()
            .find(|r| r["target"]["domain"] == name)
            .unwrap_or_else(|| panic!("{name} not diagnosed"));
        common::contract::parse_result(&r.to_string());
        let f = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "token-not-written")
            .unwrap_or_else(|| panic!("{name}: no token-not-written in {r}"));
        assert_eq!(f["severity"], "info");
        assert!(f["detail"].as_str().unwrap().contains(why), "{name}: {f}");
    }
    let ok = reports
        .iter()
        .find(|r| r["target"]["domain"] == "ok.example.test")
        .unwrap();
    assert!(
        !ok["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "token-not-written"),
        "{ok}"
    );
    assert_eq!((mtime(&rootonly), mtime(&etc)), before);
}

/// `--webroot` says what stands in its way, in its own words, and follows an absolute symlink
/// that points inside the webroot.
#[test]
fn webroot_errors_say_what_stands_in_the_way() {
    let t = Tree::new("webroot");
    let webroot = t.dir("/www", 0o755);
    let at = t.dir("/www/.well-known", 0o755).join("acme-challenge");
    let w = webroot.to_string_lossy().into_owned();
    let mut a = vec!["example.test", "--webroot", w.as_str()];
    a.extend_from_slice(OFFLINE);

    std::fs::write(&at, "x").unwrap();
    let run = acme_doctor(&a);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{} is a regular file, not a directory; no file was written",
            at.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("symlink"), "{}", run.stderr);

    std::fs::remove_file(&at).unwrap();
    nix::unistd::mkfifo(&at, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let run = acme_doctor(&a);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{} is a FIFO, not a directory; no file was written",
            at.display()
        )),
        "{}",
        run.stderr
    );

    // An absolute link to a directory inside the webroot: followed, the token written there.
    std::fs::remove_file(&at).unwrap();
    let shared = t.dir("/www/shared/acme-challenge", 0o755);
    std::os::unix::fs::symlink(&shared, &at).unwrap();
    let before = mtime(&shared);
    let run = acme_doctor(&a);
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    assert!(!run.stderr.contains("refused"), "{}", run.stderr);
    assert_ne!(
        mtime(&shared),
        before,
        "no token was written through the link"
    );
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "removed again"
    );
}
