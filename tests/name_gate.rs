//! CLI tier: one gate for names. A name whose last label a URL parser reads as a number
//! (`0x7f.0x1` is 127.0.0.1, `169.254.169.0xfe` the metadata address) used to be probed at
//! that address instead of its own. Now the command line, `-f`, `--all` and facts files all
//! refuse it in the CA's words (exit 2, or a warning for a client config's name), and nothing
//! is dialled: not even the resolver, a UDP socket of this test on loopback, is asked.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use std::net::UdpSocket;
use std::path::PathBuf;

/// Boulder's words for a name without an ICANN public suffix (docs/ca-behaviour.md §8.2).
const BOULDER: &str = "Domain name does not end with a valid public suffix (TLD)";

const NUMERIC_NAMES: &[&str] = &["0x7f.0x1", "127.0.0.0x1", "169.254.169.0xfe"];

/// A resolver that never answers and remembers whether it was asked.
struct Resolver(UdpSocket);

impl Resolver {
    fn new() -> Resolver {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        Resolver(socket)
    }

    fn addr(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }

    fn was_asked(&self) -> bool {
        !self.queries().is_empty()
    }

    /// Every query received so far, in wire format.
    fn queries(&self) -> Vec<Vec<u8>> {
        let mut queries = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok((n, _)) = self.0.recv_from(&mut buf) {
            queries.push(buf[..n].to_vec());
        }
        queries
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "acme-doctor-name-gate-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> String {
        let path = self.0.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_name_a_url_parser_reads_as_an_address_is_refused_on_the_command_line() {
    for name in NUMERIC_NAMES {
        let resolver = Resolver::new();
        let addr = resolver.addr();
        let run = acme_doctor(&[name, "--resolver", &addr, "--timeout", "1s"]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(BOULDER), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
        assert!(!resolver.was_asked(), "{name} was looked up");
        // Under --json the refusal is a JSON error with the same words.
        let run = acme_doctor(&["--json", name, "--resolver", &addr]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        let error: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert!(error["error"].to_string().contains(BOULDER), "{error}");
        assert!(!resolver.was_asked(), "{name} was looked up");
    }
}

#[test]
fn a_name_a_url_parser_reads_as_an_address_is_refused_in_a_list_file() {
    let dir = TempDir::new("list");
    // The list keeps going past a bad line (issue 21 item 5): its other name is a wildcard,
    // settled without a lookup, so the resolver is asked nothing at all.
    let list = dir.write("names.txt", "*.example.com\n0x7f.0x1\n");
    let resolver = Resolver::new();
    let addr = resolver.addr();
    let run = acme_doctor(&["-f", &list, "--resolver", &addr, "--timeout", "1s"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(BOULDER), "{}", run.stderr);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
    assert!(run.stdout.contains("*.example.com"), "{}", run.stdout);
    assert!(!resolver.was_asked(), "a name of the list was looked up");
}

/// A facts file is text anyone can edit: its names pass the same gate when read.
#[test]
fn a_facts_file_with_such_a_name_is_refused() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fw-nft-drop-v6-host.json"
    );
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let dir = TempDir::new("facts");
    // Both the input and its ASCII form crafted, and only the ASCII form crafted.
    for (input, ascii) in [
        ("0x7f.0x1", "0x7f.0x1"),
        ("169.254.169.0xfe", "169.254.169.0xfe"),
        ("example.test", "0x7f.0x1"),
    ] {
        let mut crafted = facts.clone();
        crafted["target"]["input"] = input.into();
        crafted["target"]["domain"] = ascii.into();
        let path = dir.write(&format!("{ascii}-{input}.json"), &crafted.to_string());
        let run = acme_doctor(&["--from-facts", &path]);
        assert_eq!(run.code, 2, "{input}/{ascii}: {}", run.stderr);
        if input == ascii {
            assert!(run.stderr.contains(BOULDER), "{input}: {}", run.stderr);
        }
    }
    // The untouched fixture still reads (an old facts file stays readable).
    let run = acme_doctor(&["--from-facts", fixture]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// A client config another user may write names its certificate's domains: such a name is a
/// warning naming the file, never a target; the other certificate's name is still checked.
#[test]
fn a_client_configs_name_is_refused_and_never_probed() {
    let dir = TempDir::new("all");
    dir.write(
        "/root/.acme.sh/good.example.test/good.example.test.conf",
        "Le_Domain='good.example.test'\nLe_Alt='no'\nLe_Webroot='/var/www/html'\nLe_API='https://acme-v02.api.letsencrypt.org/directory'\n",
    );
    dir.write(
        "/root/.acme.sh/0x7f.0x1/0x7f.0x1.conf",
        "Le_Domain='0x7f.0x1'\nLe_Alt='no'\nLe_Webroot='/var/www/html'\nLe_API='https://acme-v02.api.letsencrypt.org/directory'\n",
    );
    let root = dir.0.to_string_lossy().into_owned();
    let resolver = Resolver::new();
    let addr = resolver.addr();
    let run = acme_doctor(&[
        "--all",
        "--client-root",
        &root,
        "--resolver",
        &addr,
        "--timeout",
        "1s",
        "--no-progress",
        "--color",
        "never",
    ]);
    assert!(run.stderr.contains(BOULDER), "{}", run.stderr);
    assert!(run.stderr.contains("0x7f.0x1.conf"), "{}", run.stderr);
    let queries = resolver.queries();
    // In wire format a name is its labels, each after its length byte.
    let asked_for = |labels: &[u8]| {
        queries
            .iter()
            .any(|q| q.windows(labels.len()).any(|w| w == labels))
    };
    assert!(
        asked_for(b"\x04good\x07example\x04test"),
        "the good name was not looked up"
    );
    assert!(
        !asked_for(b"\x040x7f\x030x1"),
        "the crafted name was looked up"
    );
}
