//! What held against a hostile user and a hostile host, kept holding: `--webroot` leaves its
//! directory as it found it when the filesystem is full or read-only; hostile client files
//! under `--all`/`--client-config` and hostile nginx dumps in a facts file end in a diagnosis
//! (exit 0–3, never a panic or a hang); and terminal controls from an nginx dump never reach
//! the output raw, in any mode. Their cost is printed by `cargo bench --bench hostile`.

// Tests panic on purpose: a broken fixture or step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../benches/support/hostile_inputs.rs"]
mod inputs;

use inputs::NginxDump;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names are looked up at a loopback port where nothing answers: no packet leaves the machine.
const OFFLINE: &[&str] = &[
    "--resolver",
    "127.0.0.1:9",
    "--timeout",
    "200ms",
    "--no-progress",
];

/// Longer than any of these runs takes in a debug build; a run past it is a hang.
const HANG: Duration = Duration::from_secs(120);

/// A run's exit code and raw output bytes.
struct Raw {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Raw {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A scratch directory of this test process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("acme-doctor-held-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs acme-doctor with its output in files (a pipe could fill and stall it), killing it
/// (by its own pid) and failing when it outlives [`HANG`].
fn run(scratch: &Path, args: &[&str]) -> Raw {
    let out = scratch.join("run.stdout");
    let err = scratch.join("run.stderr");
    let mut child = Command::new(common::BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start acme-doctor");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("acme-doctor {args:?} still ran after {HANG:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Raw {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// Exit 0–3 is a diagnosis or a clear error; 101 is a panic, anything else a crash.
fn assert_ends_in_a_diagnosis(run: &Raw, what: &str) {
    assert!(
        (0..=3).contains(&run.code),
        "{what}: exit {} (101 is a panic)\nstderr:\n{}",
        run.code,
        run.stderr()
    );
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// The first character a terminal would act on: a C0 control other than newline, DEL, a C1
/// control or a bidi override.
fn first_raw_control(bytes: &[u8]) -> Option<(usize, char)> {
    String::from_utf8_lossy(bytes)
        .char_indices()
        .find(|&(_, c)| (c.is_control() && c != '\n') || is_bidi(c))
}

/// `bytes` without the SGR colour sequences (`ESC [ digits ; … m`) acme-doctor writes itself
/// under `--color always`; any other ESC stays.
fn without_own_colours(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            let params = bytes[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b';')
                .count();
            if bytes.get(i + 2 + params) == Some(&b'm') {
                i += 3 + params;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

// --- --webroot on a full or read-only filesystem -------------------------------------------

/// Whether a root-only test can run here: under CI=true it must, elsewhere a skip is announced.
fn root_or_skip(test: &str, why: &str) -> bool {
    if common::is_root() {
        return true;
    }
    assert!(!common::in_ci(), "CI runs as root: {test} must run");
    common::announce_skip(test, why);
    false
}

/// A tmpfs mounted under a scratch directory of this process; unmounted (then the directory
/// removed) on drop, also when the test fails.
struct Tmpfs {
    dir: PathBuf,
    _scratch: Scratch,
}

impl Tmpfs {
    /// Mounts a tmpfs with `options`, runs `fill` in it, then remounts it read-only when
    /// asked. `None` (announced, or a failure under CI=true) when mounting is not allowed.
    fn mount(tag: &str, options: &str, fill: impl FnOnce(&Path), read_only: bool) -> Option<Tmpfs> {
        let scratch = Scratch::new(tag);
        let dir = scratch.0.join("webroot");
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .output();
        match mounted {
            Ok(o) if o.status.success() => {}
            other => {
                let why = format!("cannot mount a tmpfs: {other:?}");
                assert!(!common::in_ci(), "{tag}: {why}");
                common::announce_skip(tag, &why);
                return None;
            }
        }
        // From here on the guard unmounts.
        let tmpfs = Tmpfs {
            dir,
            _scratch: scratch,
        };
        fill(&tmpfs.dir);
        if read_only {
            let remounted = Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&tmpfs.dir)
                .status()
                .unwrap();
            assert!(remounted.success(), "remount read-only");
        }
        Some(tmpfs)
    }

    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy: detach it now, the kernel frees it when the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Every entry under `dir`: relative path, kind and size, sorted.
fn snapshot(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &path, out);
            } else {
                out.push(format!("{rel} {} bytes", meta.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Writes zeros into `dir/fill` until the filesystem says it is full.
fn fill_up(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("fill")).unwrap();
    let chunk = [0u8; 4096];
    for _ in 0..1024 {
        if f.write_all(&chunk).and_then(|()| f.flush()).is_err() {
            return;
        }
    }
    panic!("the tmpfs never filled up");
}

fn challenge_dirs(dir: &Path) {
    std::fs::create_dir_all(dir.join(".well-known/acme-challenge")).unwrap();
}

/// `acme-doctor example.test --webroot DIR` ends with one clear error line naming `--webroot`
/// and `why`, exit 2, and DIR holds exactly what it held before, in every output mode.
fn webroot_refused_and_untouched(tmpfs: &Tmpfs, why: &str) {
    let before = snapshot(&tmpfs.dir);
    let scratch = Scratch::new(&format!(
        "webroot-run-{}",
        tmpfs.dir.parent().unwrap().file_name().unwrap().display()
    ));
    let mut args = vec![
        "example.test",
        "--webroot",
        tmpfs.path(),
        "--color",
        "never",
    ];
    args.extend_from_slice(OFFLINE);
    let human = run(&scratch.0, &args);
    assert_eq!(human.code, 2, "stderr:\n{}", human.stderr());
    let stderr = human.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line, got:\n{stderr}");
    assert!(
        lines[0].starts_with("acme-doctor: error: --webroot ") && lines[0].contains(why),
        "want a --webroot error saying {why:?}, got:\n{stderr}"
    );
    assert_eq!(snapshot(&tmpfs.dir), before, "the webroot changed");

    args.push("--json");
    let json = run(&scratch.0, &args);
    assert_eq!(json.code, 2, "stderr:\n{}", json.stderr());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "input", "{v}");
    assert_eq!(snapshot(&tmpfs.dir), before, "the webroot changed");
}

#[test]
fn webroot_on_a_full_filesystem_leaves_nothing_behind() {
    if !root_or_skip("webroot on a full tmpfs", "needs root to mount a tmpfs") {
        return;
    }
    const FULL: &str = "No space left on device";
    // No room for the token's bytes: the directories and the empty file it made go again.
    if let Some(t) = Tmpfs::mount("full", "size=16k,mode=0755", fill_up, false) {
        webroot_refused_and_untouched(&t, FULL);
    }
    // The challenge directories were there already: they stay, the file goes.
    let existing = |dir: &Path| {
        challenge_dirs(dir);
        fill_up(dir);
    };
    if let Some(t) = Tmpfs::mount("full-dirs", "size=16k,mode=0755", existing, false) {
        webroot_refused_and_untouched(&t, FULL);
    }
    // Room for one more inode only: `.well-known` is made, `acme-challenge` is refused, and
    // the `.well-known` made a moment ago goes again.
    let one_inode_left = |dir: &Path| std::fs::write(dir.join("index.html"), "hello\n").unwrap();
    if let Some(t) = Tmpfs::mount(
        "inodes",
        "size=64k,nr_inodes=3,mode=0755",
        one_inode_left,
        false,
    ) {
        webroot_refused_and_untouched(&t, FULL);
    }
}

#[test]
fn webroot_on_a_read_only_filesystem_leaves_nothing_behind() {
    if !root_or_skip(
        "webroot on a read-only tmpfs",
        "needs root to mount a tmpfs",
    ) {
        return;
    }
    const READ_ONLY: &str = "Read-only file system";
    let site = |dir: &Path| std::fs::write(dir.join("index.html"), "hello\n").unwrap();
    if let Some(t) = Tmpfs::mount("ro", "size=64k,mode=0755", site, true) {
        webroot_refused_and_untouched(&t, READ_ONLY);
    }
    let site_with_dirs = |dir: &Path| {
        site(dir);
        challenge_dirs(dir);
    };
    if let Some(t) = Tmpfs::mount("ro-dirs", "size=64k,mode=0755", site_with_dirs, true) {
        webroot_refused_and_untouched(&t, READ_ONLY);
    }
}

// --- hostile client files under --all ------------------------------------------------------

/// A test root with one healthy certbot certificate, so `--all` has a name to diagnose
/// besides the hostile file.
fn client_root(scratch: &Path) -> PathBuf {
    let root = scratch.join("root");
    let conf = root.join("etc/letsencrypt/renewal/web.example.test.conf");
    let pem = root.join("etc/letsencrypt/live/web.example.test/cert.pem");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/clients/web.example.test.conf", &conf).unwrap();
    std::fs::copy("tests/fixtures/clients/certs/web.pem", &pem).unwrap();
    root
}

#[test]
fn hostile_client_files_end_in_a_diagnosis_and_a_warning_naming_them() {
    let scratch = Scratch::new("clients");
    let root = client_root(&scratch.0);
    let files = inputs::client_files(&scratch.0.join("planted")).unwrap();
    assert_eq!(files.len(), 4);
    for file in &files {
        let shown = file.path.to_str().unwrap();
        let root = root.to_str().unwrap();
        for mode in [&["--color", "never"][..], &["--json"], &["--report"]] {
            let mut args = vec!["--all", "--client-root", root, "--client-config", shown];
            args.extend_from_slice(mode);
            args.extend_from_slice(OFFLINE);
            let what = format!("{} {mode:?}", file.label);
            let run = run(&scratch.0, &args);
            assert_ends_in_a_diagnosis(&run, &what);
            for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert_eq!(
                    first_raw_control(bytes),
                    None,
                    "{what}: a raw control character on {stream}"
                );
            }
            // The healthy certificate is still diagnosed beside the hostile file.
            assert!(
                run.stdout().contains("web.example.test"),
                "{what}: the other certificate is missing:\n{}",
                run.stdout()
            );
            let warning = run
                .stderr()
                .lines()
                .find(|l| l.starts_with("acme-doctor: warning: ") && l.contains(shown))
                .map(str::to_string);
            assert!(
                warning.is_some(),
                "{what}: no warning names {shown}:\n{}",
                run.stderr()
            );
        }
    }
}

// --- hostile nginx dumps in a facts file ---------------------------------------------------

fn from_facts(scratch: &Path, facts: &Path, extra: &[&str]) -> Raw {
    let mut args = vec!["--from-facts", facts.to_str().unwrap(), "--no-progress"];
    args.extend_from_slice(extra);
    run(scratch, &args)
}

/// A dump the parser reads whole must still give the fixture's finding: the hostile part was
/// read, not dropped.
fn assert_still_webroot_mismatch(dump: NginxDump) {
    let scratch = Scratch::new(&format!("nginx-{dump:?}"));
    let facts = scratch.0.join("facts.json");
    inputs::write_nginx_facts(dump, &facts).unwrap();
    let run = from_facts(&scratch.0, &facts, &["--json"]);
    assert_eq!(run.code, 1, "{}: stderr:\n{}", dump.label(), run.stderr());
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"webroot-mismatch"),
        "{}: {codes:?}",
        dump.label()
    );
}

#[test]
fn nginx_dump_with_100k_server_blocks_is_read_and_still_names_the_cause() {
    assert_still_webroot_mismatch(NginxDump::ServerBlocks);
}

#[test]
fn nginx_dump_with_2000_catastrophic_regex_locations_still_names_the_cause() {
    assert_still_webroot_mismatch(NginxDump::CatastrophicRegexes);
}

/// Past the parser's caps the run must still end in a diagnosis, in every output mode.
/// (Whether the diagnosis then says that nginx was not read is another property.)
fn assert_ends(dump: NginxDump) {
    let scratch = Scratch::new(&format!("nginx-{dump:?}"));
    let facts = scratch.0.join("facts.json");
    inputs::write_nginx_facts(dump, &facts).unwrap();
    for mode in [&["--color", "never"][..], &["--json"], &["-v"]] {
        let run = from_facts(&scratch.0, &facts, mode);
        assert_ends_in_a_diagnosis(&run, &format!("{} {mode:?}", dump.label()));
        assert!(!run.stdout.is_empty(), "{}: no output", dump.label());
        // The reader gave up: never a silent pass, and the run says nginx was not read.
        assert_eq!(run.code, 3, "{} {mode:?}: incomplete, exit 3", dump.label());
        assert!(
            run.stdout()
                .contains("nginx's configuration could not be read"),
            "{} {mode:?}: no reason names nginx\n{}",
            dump.label(),
            run.stdout().chars().take(3000).collect::<String>()
        );
    }
}

#[test]
fn nginx_dump_past_the_directive_cap_ends_in_a_diagnosis() {
    assert_ends(NginxDump::ServerBlocksPastTheCap);
}

#[test]
fn nginx_dump_nested_100k_deep_ends_in_a_diagnosis() {
    assert_ends(NginxDump::DeepNesting);
}

// --- terminal controls from an nginx dump --------------------------------------------------

/// ESC (a clear-screen CSI, and a title-setting OSC in the comment), BEL and U+202E in a `server_name`, in the
/// `root` the finding quotes, and in a comment: no output mode lets one through raw.
#[test]
fn terminal_controls_in_an_nginx_dump_are_neutralised_in_every_output_mode() {
    let scratch = Scratch::new("nginx-controls");
    let facts = scratch.0.join("facts.json");
    let text = inputs::facts_with_dump(|dump| {
        dump.replacen(
            inputs::SERVER_NAME_LINE,
            "server_name example.test evil\u{1b}[2J\u{7}\u{202e}moc.example.test;\n    # note \u{1b}]0;pwned-comment\u{7} \u{202e}txt.exe",
            1,
        )
        .replacen(
            inputs::ROOT_LINE,
            "root /tmp/adl32638x3/site\u{1b}[2Jpwned-root\u{7}\u{202e}gpj;",
            1,
        )
    })
    .unwrap();
    std::fs::write(&facts, text).unwrap();
    let modes: [&[&str]; 9] = [
        &["--color", "never"],
        &["--color", "always"],
        &["-v", "--color", "never"],
        &["-v", "--color", "always"],
        &["--json"],
        &["--json", "-v"],
        &["--ndjson"],
        &["--report"],
        &["--report", "-v"],
    ];
    for mode in modes {
        let run = from_facts(&scratch.0, &facts, mode);
        assert_ends_in_a_diagnosis(&run, &format!("{mode:?}"));
        // The hostile root reached the output (the finding quotes it): the check below is
        // about something that was printed.
        assert!(
            run.stdout().contains("pwned-root"),
            "{mode:?}: the root is not shown:\n{}",
            run.stdout()
        );
        for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            let bytes = without_own_colours(bytes);
            for (name, needle) in [
                ("ESC", &b"\x1b"[..]),
                ("BEL", b"\x07"),
                ("U+202E", "\u{202e}".as_bytes()),
            ] {
                let at = bytes.windows(needle.len()).position(|w| w == needle);
                assert_eq!(at, None, "{mode:?}: raw {name} on {stream}");
            }
            assert_eq!(
                first_raw_control(&bytes),
                None,
                "{mode:?}: a raw control character on {stream}"
            );
        }
    }
}

#[test]
fn own_colours_are_all_that_is_stripped() {
    // The helper above must not hide a hostile sequence.
    assert_eq!(without_own_colours(b"a\x1b[1;31mb\x1b[0mc"), b"abc");
    assert_eq!(without_own_colours(b"\x1b[2J"), b"\x1b[2J");
    assert_eq!(without_own_colours(b"\x1b]0;t\x07"), b"\x1b]0;t\x07");
    assert_eq!(first_raw_control("ok\n".as_bytes()), None);
    assert!(first_raw_control("\u{202e}".as_bytes()).is_some());
    assert!(first_raw_control("\u{9b}".as_bytes()).is_some());
}
