//! Hostile inputs shared by tests/held_bounds.rs (which asserts how a run over them ends) and
//! benches/hostile.rs (which prints what such a run costs): client files a user could plant
//! for `--all`/`--client-config`, and nginx `-T` dumps inside a host-facts file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The facts file whose nginx dump the hostile dumps extend: nginx serves example.test from
/// another root than `--webroot`, so an intact reading ends in `webroot-mismatch` (exit 1).
pub const NGINX_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/webconf-webroot-host.json"
);

/// The server block of [`NGINX_FIXTURE`] that answers for example.test.
const SERVER_START: &str = "  server {\n    listen 80;";
/// Its only location.
const LOCATION: &str = "    location / {";
/// Its root, which the `webroot-mismatch` finding quotes.
pub const ROOT_LINE: &str = "root /tmp/adl32638x3/site;";
pub const SERVER_NAME_LINE: &str = "server_name example.test;";

/// A client file as a user could plant it.
pub struct ClientFile {
    pub label: &'static str,
    pub path: PathBuf,
}

/// Writes the hostile client files into `dir`: 64 MiB on one line, Traefik's acme.json
/// nested 100k arrays deep, an acme.json cut off in the middle, and random bytes with NULs.
pub fn client_files(dir: &Path) -> std::io::Result<Vec<ClientFile>> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    let mut put = |label: &'static str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        files.push(ClientFile { label, path });
        Ok(())
    };
    let mut huge = b"Le_Domain='huge.example.test".to_vec();
    huge.resize(64 * 1024 * 1024, b'a');
    put("64 MiB on one line", "huge.example.test.conf", &huge)?;
    drop(huge);

    let depth = 100_000;
    let mut nested = String::with_capacity(2 * depth + 64);
    nested.push_str("{\"le\":{\"Certificates\":");
    nested.extend(std::iter::repeat_n('[', depth));
    nested.extend(std::iter::repeat_n(']', depth));
    nested.push_str("}}");
    put("acme.json nested 100k deep", "acme.json", nested.as_bytes())?;

    let truncated = "{\"le\":{\"Account\":{\"Email\":\"a@example.test\"},\"Certificates\":[{\"domain\":{\"main\":\"cut.example.test\",\"sans\":[\"www.cut";
    put(
        "truncated acme.json",
        "truncated-acme.json",
        truncated.as_bytes(),
    )?;

    put(
        "1 MiB of random bytes",
        "binary.conf",
        &random_bytes(1 << 20),
    )?;
    Ok(files)
}

/// Pseudo-random bytes (xorshift, fixed seed: the same file every run), every 61st a NUL and
/// the terminal's favourite controls sprinkled in.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(match i % 61 {
            0 => 0,
            17 => 0x1b,
            29 => 0x07,
            _ => state.to_le_bytes()[3],
        });
    }
    out
}

/// The hostile nginx dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NginxDump {
    /// 100k `server { }` blocks before the real one: within the parser's caps.
    ServerBlocks,
    /// 100k `server { listen 8080; server_name …; }`: past the directive cap.
    ServerBlocksPastTheCap,
    /// 2,000 `location ~ ^(a+)+$ { }` (exponential for a backtracking engine) in the server
    /// block that answers.
    CatastrophicRegexes,
    /// `location / {` opened 100k times, then closed.
    DeepNesting,
}

impl NginxDump {
    pub const ALL: [NginxDump; 4] = [
        NginxDump::ServerBlocks,
        NginxDump::ServerBlocksPastTheCap,
        NginxDump::CatastrophicRegexes,
        NginxDump::DeepNesting,
    ];

    pub fn label(self) -> &'static str {
        match self {
            NginxDump::ServerBlocks => "100k server blocks",
            NginxDump::ServerBlocksPastTheCap => "100k server blocks past the directive cap",
            NginxDump::CatastrophicRegexes => "2,000 catastrophic regex locations",
            NginxDump::DeepNesting => "100k-deep brace nesting",
        }
    }

    fn apply(self, dump: &str) -> String {
        match self {
            NginxDump::ServerBlocks => {
                let extra = "  server { }\n".repeat(100_000);
                dump.replacen(SERVER_START, &format!("{extra}{SERVER_START}"), 1)
            }
            NginxDump::ServerBlocksPastTheCap => {
                let extra: String = (0..100_000)
                    .map(|i| {
                        format!("  server {{ listen 8080; server_name s{i}.example.test; }}\n")
                    })
                    .collect();
                dump.replacen(SERVER_START, &format!("{extra}{SERVER_START}"), 1)
            }
            NginxDump::CatastrophicRegexes => {
                let extra = "    location ~ ^(a+)+$ { }\n".repeat(2_000);
                dump.replacen(LOCATION, &format!("{extra}{LOCATION}"), 1)
            }
            NginxDump::DeepNesting => {
                let deep = format!(
                    "  {}{}\n",
                    "location / {".repeat(100_000),
                    "}".repeat(100_000)
                );
                dump.replacen(SERVER_START, &format!("{deep}{SERVER_START}"), 1)
            }
        }
    }
}

/// [`NGINX_FIXTURE`] with its nginx dump passed through `edit`, as JSON text.
pub fn facts_with_dump(edit: impl FnOnce(&str) -> String) -> Result<String, String> {
    let text = std::fs::read_to_string(NGINX_FIXTURE).map_err(|e| e.to_string())?;
    let mut facts: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let dump = facts["host"]["web_server"]["nginx"]["known"]["dump"]
        .as_str()
        .ok_or("the fixture has no nginx dump")?
        .to_string();
    let edited = edit(&dump);
    if edited == dump {
        return Err("the edit changed nothing: the fixture's dump is not what it was".into());
    }
    facts["host"]["web_server"]["nginx"]["known"]["dump"] = serde_json::Value::String(edited);
    Ok(facts.to_string())
}

/// Writes the facts file of `dump` to `path`.
pub fn write_nginx_facts(dump: NginxDump, path: &Path) -> Result<(), String> {
    let text = facts_with_dump(|d| dump.apply(d))?;
    std::fs::write(path, text).map_err(|e| e.to_string())
}
