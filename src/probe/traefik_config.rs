//! Traefik's configuration files on the host: the static file where the packages and the
//! documentation put it (`/etc/traefik/traefik.yml`, `.yaml`, `.toml`), and the dynamic
//! configuration of its file provider (`providers.file.filename`, or every `.yml`, `.yaml`
//! and `.toml` of `providers.file.directory`), read verbatim and capped so a saved facts file
//! can be judged again offline. Routers from Docker labels come with the containers
//! (`probe::containers`).

use super::webconf::{FILE_CAP, WebSystem};
use crate::facts::{ConfigFile, Probed, TraefikFiles, Unknown};
use crate::webconf::traefik;

/// Dynamic files read from a directory.
const MAX_DYNAMIC: usize = 64;

fn read(sys: &impl WebSystem, path: &str) -> Probed<String> {
    match sys.read(path, FILE_CAP + 1) {
        Ok(t) if t.len() as u64 > FILE_CAP => Probed::Unknown(Unknown::Unparsable {
            source: path.to_string(),
            at: format!("byte {FILE_CAP}"),
            message: "the file is longer than acme-doctor reads".into(),
            cap: Some(format!("{} KiB per file", FILE_CAP / 1024)),
        }),
        Ok(t) => Probed::Known(t),
        Err(e) => Probed::Unknown(e),
    }
}

/// The flattened keys of one file, by its extension.
pub fn flatten(path: &str, text: &str) -> traefik::Flat {
    if path.to_ascii_lowercase().ends_with(".toml") {
        traefik::flatten_toml(path, text)
    } else {
        traefik::flatten_yaml(path, text)
    }
}

pub fn traefik_files(sys: &impl WebSystem) -> Option<TraefikFiles> {
    traefik_files_in(sys, "/etc/traefik")
}

/// The static file in `dir`, and the dynamic files it names (relative names from `dir`).
fn traefik_files_in(sys: &impl WebSystem, dir: &str) -> Option<TraefikFiles> {
    let (path, text) = ["traefik.yml", "traefik.yaml", "traefik.toml"]
        .iter()
        .map(|n| format!("{dir}/{n}"))
        .find_map(|p| match sys.read(&p, FILE_CAP + 1) {
            Err(Unknown::Failed { .. }) => None,
            _ => Some((p.clone(), read(sys, &p))),
        })?;
    let mut dynamic = Vec::new();
    if let Probed::Known(t) = &text {
        let st = traefik::static_config(&flatten(&path, t));
        for named in &st.file_provider {
            let named = if named.starts_with('/') {
                named.clone()
            } else {
                format!("{dir}/{named}")
            };
            let in_dir = std::fs::read_dir(&named).ok().map(|entries| {
                let mut files: Vec<String> = entries
                    .flatten()
                    .map(|e| e.path().to_string_lossy().into_owned())
                    .filter(|p| {
                        let l = p.to_ascii_lowercase();
                        l.ends_with(".yml") || l.ends_with(".yaml") || l.ends_with(".toml")
                    })
                    .collect();
                files.sort();
                files
            });
            for file in in_dir.unwrap_or_else(|| vec![named.clone()]) {
                if dynamic.len() >= MAX_DYNAMIC {
                    break;
                }
                dynamic.push(ConfigFile {
                    text: read(sys, &file),
                    path: file,
                });
            }
        }
    }
    Some(TraefikFiles {
        static_file: ConfigFile { path, text },
        dynamic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::clients::testdir::TempTree;
    use crate::probe::webconf::System;

    #[test]
    fn the_file_providers_directory_is_read_yaml_and_toml_only() {
        let t = TempTree::new("traefik-files");
        let dir = t.path().to_string_lossy().into_owned();
        t.write(
            "traefik.yml",
            "entryPoints:\n  web:\n    address: \":80\"\nproviders:\n  file:\n    directory: dynamic\n",
        );
        t.write(
            "dynamic/b.toml",
            "[http.routers.b]\n  rule = \"Host(`b.test`)\"\n",
        );
        t.write(
            "dynamic/a.yml",
            "http:\n  routers:\n    a:\n      rule: Host(`a.test`)\n",
        );
        t.write("dynamic/notes.txt", "not configuration\n");
        let files = traefik_files_in(&System, &dir).unwrap();
        assert!(files.static_file.path.ends_with("/traefik.yml"));
        let names: Vec<&str> = files
            .dynamic
            .iter()
            .map(|f| f.path.rsplit('/').next().unwrap_or(""))
            .collect();
        assert_eq!(names, ["a.yml", "b.toml"]);
        // No static file: no Traefik.
        let empty = TempTree::new("traefik-none");
        assert!(traefik_files_in(&System, &empty.path().to_string_lossy()).is_none());
    }
}
