//! Property tier: the fuzz targets of `fuzz/` (src/fuzzing.rs) run on stable, for a bounded,
//! deterministic number of generated inputs: mutations of the fixtures (structure-aware for
//! JSON, bytewise for the rest). The property is that nothing panics or hangs: every input
//! ends in a result or an error. libFuzzer explores much further (`fuzz/README.md`).

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acme_doctor::fuzzing;
use serde_json::Value;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Strings a hostile peer or a crafted file would try.
const NASTY: &[&str] = &[
    "",
    "\u{1b}[2J\u{1b}]52;c;cHduZWQ=\u{7}",
    "\u{9b}31m",
    "\u{202e}evil",
    "\u{7f}",
    "-A INPUT -j DROP",
    "*.example.test",
    "203.0.113.05",
    "2001:DB8:0::1",
    "::ffff:127.0.0.1",
    "[::1]",
    "fe80::1%lo",
    "xn--",
    "ab--cd.example",
    "0.0.0.0/0",
    "::/0",
    "99999999999999999999",
    "%",
    "a;b=c;;",
    "\0",
];

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// One structure-aware change somewhere in a JSON value.
fn mutate_json(v: &mut Value, rng: &mut Rng, depth: usize) {
    match v {
        Value::Object(map) if !map.is_empty() && depth < 12 && rng.below(4) != 0 => {
            let key = map.keys().nth(rng.below(map.len())).cloned().unwrap();
            match rng.below(10) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(NASTY[rng.below(NASTY.len())].to_string(), Value::Null);
                }
                _ => mutate_json(map.get_mut(&key).unwrap(), rng, depth + 1),
            }
        }
        Value::Array(items) if !items.is_empty() && depth < 12 && rng.below(4) != 0 => {
            let i = rng.below(items.len());
            match rng.below(8) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ => mutate_json(&mut items[i], rng, depth + 1),
            }
        }
        _ => {
            *v = match rng.below(6) {
                0 => Value::String(NASTY[rng.below(NASTY.len())].to_string()),
                1 => Value::from(rng.next() as i64),
                2 => Value::from(rng.below(70000) as u64),
                3 => Value::Bool(rng.below(2) == 0),
                4 => Value::Null,
                _ => Value::Array(vec![]),
            };
        }
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(8) {
        if bytes.is_empty() {
            bytes.push(rng.next() as u8);
            continue;
        }
        let i = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[i] ^= 1 << rng.below(8),
            1 => bytes.insert(i, rng.next() as u8),
            2 => {
                bytes.remove(i);
            }
            3 => bytes.truncate(i),
            _ => {
                let nasty = NASTY[rng.below(NASTY.len())].as_bytes();
                bytes.splice(i..i, nasty.iter().copied());
            }
        }
    }
}

const CASES_PER_SEED: usize = 100;

#[test]
fn mutated_facts_files_never_panic() {
    let mut rng = Rng(0x5eed_f00d);
    let mut cases = 0;
    for (_, bytes) in fixtures() {
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        for n in 0..CASES_PER_SEED {
            if n % 4 == 0 {
                let mut raw = bytes.clone();
                mutate_bytes(&mut raw, &mut rng);
                fuzzing::facts_file(&raw);
            } else {
                let mut v = value.clone();
                for _ in 0..=rng.below(4) {
                    mutate_json(&mut v, &mut rng, 0);
                }
                fuzzing::facts_file(&serde_json::to_vec(&v).unwrap());
            }
            cases += 1;
        }
    }
    eprintln!("property tier: {cases} facts files");
}

#[test]
fn mutated_rulesets_never_panic() {
    let mut rng = Rng(0xf1ee_0a11);
    let mut cases = 0;
    for (_, bytes) in fixtures() {
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        // Facts files of both versions keep the firewall under host (version 2 or 1).
        let firewall = &value["host"]["firewall"];
        if firewall.is_null() {
            continue;
        }
        let nft = firewall["nft"]["known"].clone();
        let dumps: Vec<String> = firewall["iptables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["dump"]["known"].as_str().map(str::to_string))
            .collect();
        for _ in 0..CASES_PER_SEED {
            if !nft.is_null() {
                let mut v = nft.clone();
                mutate_json(&mut v, &mut rng, 0);
                let mut input = vec![0u8];
                input.extend(serde_json::to_vec(&v).unwrap());
                fuzzing::ruleset(&input);
            }
            for dump in &dumps {
                let mut input = vec![1u8];
                input.extend(dump.as_bytes());
                let mut body = input.split_off(1);
                mutate_bytes(&mut body, &mut rng);
                input.extend(body);
                fuzzing::ruleset(&input);
            }
            cases += 1;
        }
    }
    assert!(cases > 0, "no fixture holds a firewall");
    eprintln!("property tier: {cases} rulesets");
}

#[test]
fn random_names_dns_messages_and_http_answers_never_panic() {
    let mut rng = Rng(0xd0_d0_d0);
    let seeds: &[&[u8]] = &[
        b"example.com",
        b"*.example.com",
        b"xn--bcher-kva.example",
        b"203.0.113.5",
        b"2001:db8::1",
        b"# list\nexample.com\nwww.example.com # comment\n",
    ];
    for _ in 0..2000 {
        let mut name = seeds[rng.below(seeds.len())].to_vec();
        mutate_bytes(&mut name, &mut rng);
        fuzzing::domain(&name);

        let mut message: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
        if message.len() > 12 {
            // A plausible header: one question, a few answers.
            message[4..12].copy_from_slice(&[0, 1, 0, 3, 0, 0, 0, 1]);
        }
        fuzzing::dns_answer(&message);

        let status: u16 = [200, 301, 302, 303, 307, 308, 404, 403, 500][rng.below(9)];
        let mut http = status.to_be_bytes().to_vec();
        let location: &[u8] = [
            &b"https://example.test/x"[..],
            b"http://example.test:8080/",
            b"ftp://x/",
            b"//evil.example",
            b"http://[::1%25eth0]/",
            b"http://example.test.well-known/acme-challenge/T",
        ][rng.below(6)];
        http.extend(location);
        http.push(0);
        http.extend(NASTY[rng.below(NASTY.len())].as_bytes());
        http.push(0);
        mutate_bytes(&mut http, &mut rng);
        fuzzing::http_answer(&http);
    }
}

/// The nginx parser and the server and location choice never panic on a mutated real dump
/// (Debian's, with certbot's and WordPress's sites), nor Apache's on mutated `-S` output.
#[test]
fn mutated_web_server_configurations_never_panic() {
    let mut rng = Rng(0x_0e_b0_0c);
    let dump = include_str!("../src/webconf/testdata/debian-nginx-T.txt");
    let apache = "VirtualHost configuration:\n*:80                   is a NameVirtualHost\n         default server a (/f:1)\n         port 80 namevhost example.test (/f:1)\n                 alias *.example.test\nMain DocumentRoot: \"/var/www/html\"\n\0<VirtualHost *:80>\nServerName example.test\nDocumentRoot /srv\nRewriteCond %{SERVER_NAME} =example.test [OR]\nRewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\nProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n";
    for i in 0..400 {
        let mut input = vec![(i % 2) as u8];
        let mut body = if i % 2 == 0 {
            dump.as_bytes().to_vec()
        } else {
            apache.as_bytes().to_vec()
        };
        mutate_bytes(&mut body, &mut rng);
        input.extend(body);
        fuzzing::web_config(&input);
    }
}

/// The committed seeds of a lean target (`fuzz/seed.sh`), sorted.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Each lean target of `fuzz/` on its seeds, on bytewise mutations of them (the choice byte
/// mutated too, so every parser a target chooses among is reached) and on random bytes.
fn lean_target_never_panics(target: &str, entry: fn(&[u8]), seed: u64) {
    let mut rng = Rng(seed);
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "{target}: no seeds; run fuzz/seed.sh");
    let mut cases = 0;
    for s in &seeds {
        entry(s);
        for _ in 0..CASES_PER_SEED {
            let mut input = s.clone();
            mutate_bytes(&mut input, &mut rng);
            entry(&input);
            cases += 1;
        }
    }
    for _ in 0..500 {
        let random: Vec<u8> = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
        entry(&random);
        cases += 1;
    }
    eprintln!("property tier: {cases} inputs of {target}");
}

#[test]
fn lean_http_parse_never_panics() {
    lean_target_never_panics("http_parse", fuzzing::http_parse, 0x4854_5450);
}

#[test]
fn lean_ruleset_parse_never_panics() {
    lean_target_never_panics("ruleset_parse", fuzzing::ruleset_parse, 0x7275_6c65);
}

#[test]
fn lean_client_config_never_panics() {
    lean_target_never_panics("client_config", fuzzing::client_config, 0x636c_6965);
}

#[test]
fn lean_nginx_config_never_panics() {
    lean_target_never_panics("nginx_config", fuzzing::nginx_config, 0x6e67_696e);
}

#[test]
fn lean_apache_config_never_panics() {
    lean_target_never_panics("apache_config", fuzzing::apache_config, 0x6170_6163);
}

#[test]
fn lean_der_walk_never_panics() {
    lean_target_never_panics("der_walk", fuzzing::der_walk, 0x6465_7277);
}

#[test]
fn lean_serve_request_never_panics() {
    lean_target_never_panics("serve_request", fuzzing::serve_request, 0x7365_7276);
}

/// Issue 19: the CA's words as pasted and logged.
#[test]
fn lean_ca_words_never_panics() {
    lean_target_never_panics("ca_words", fuzzing::ca_words, 0x6361_776f);
}

/// Every parser `client_config` chooses among is reached by a seed (the choice byte is the
/// parser: src/fuzzing.rs), so the seeds cannot silently stop covering one.
#[test]
fn client_config_seeds_reach_every_parser() {
    let mut chosen: Vec<u8> = seeds("client_config").iter().map(|s| s[0] % 8).collect();
    chosen.sort_unstable();
    chosen.dedup();
    assert_eq!(chosen, (0..8).collect::<Vec<u8>>());
}

/// Inputs libFuzzer found to panic, kept as they were found (`fuzz/README.md`).
#[test]
fn inputs_the_fuzzer_found_stay_fixed() {
    use base64::Engine;
    // client_config, certbot: `renew_before_expiry =07550956297025341212` (an overflow in
    // the window's seconds, found at 3 M executions).
    let certbot = base64::engine::general_purpose::STANDARD
        .decode("IHJlbmV3X2JlZm9yZV9leHBpcnkgPTA3NTUwOTU2Mjk3MDI1MzQxMjEyICAg")
        .unwrap();
    fuzzing::client_config(&certbot);
}
