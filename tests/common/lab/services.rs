//! What runs in the lab's namespaces: dnsmasq (the lab zone), the scenario's rulesets and
//! commands, nginx (the webroot lego and the probes reach), and acme-doctor itself.

use super::super::{BIN, Run, capture_args};
use super::{Lab, RESOLVER, Setup};
use std::path::PathBuf;
use std::process::{Command, Stdio};

impl Lab {
    pub(super) fn spawn(&mut self, ns: &str, args: &[&str], log: &str) -> Result<(), String> {
        self.spawn_with_env(ns, args, &[], log)
    }

    /// Starts a long-running process in any namespace of the lab (teardown kills it by pid),
    /// and waits until something listens on TCP `port` there.
    // Not every test file that shares the lab starts its own daemons.
    #[allow(dead_code)]
    pub fn start_daemon(
        &mut self,
        ns: &str,
        args: &[&str],
        log: &str,
        port: u16,
    ) -> Result<(), String> {
        self.spawn(ns, args, log)?;
        let ns = ns.to_string();
        let filter = format!("sport = :{port}");
        self.wait_until(log, |lab| {
            lab.exec(&ns, &["ss", "-Hltn", &filter])
                .is_ok_and(|o| !o.trim().is_empty())
        })
    }

    /// Runs a command in any namespace of the lab.
    #[allow(dead_code)]
    pub fn ns_exec(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        self.exec(ns, args)
    }

    /// A log file of a process the lab started, as text so far.
    #[allow(dead_code)]
    pub fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.dir.join(log)).unwrap_or_default()
    }

    /// Starts a long-running process inside a namespace; teardown kills it by pid.
    pub(super) fn spawn_with_env(
        &mut self,
        ns: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log: &str,
    ) -> Result<(), String> {
        let log_file = std::fs::File::create(self.dir.join(log)).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("spawn {args:?}: {e}"))?;
        self.children.push((log.to_string(), child));
        Ok(())
    }

    /// Starts a long-running process in the host namespace (a firewall daemon and its bus,
    /// say); teardown kills it by pid, like every process the lab starts.
    pub fn spawn_in_host(
        &mut self,
        args: &[&str],
        env: &[(&str, &str)],
        log: &str,
    ) -> Result<(), String> {
        let h = self.host.clone();
        self.spawn_with_env(&h, args, env, log)
    }

    /// Starts dnsmasq on the router's loopback addresses, serving the scenario's records for
    /// the lab zone, and waits until it listens on UDP and TCP.
    pub(super) fn start_dnsmasq(&mut self, setup: &Setup) -> Result<(), String> {
        let r = self.router.clone();
        let mut dnsmasq: Vec<String> = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=203.0.113.53",
            "--listen-address=2001:db8:53::53",
            "--port=53",
            "--local=/test/",
            // The TLD itself exists, as real ones do: the CA's CAA walk reaches it, and
            // NXDOMAIN there fails the check (docs/ca-behaviour.md §5.3).
            "--txt-record=test,lab",
            "--pid-file=",
            "--user=root",
            "--group=root",
            "--log-facility=-",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for record in &setup.host_records {
            dnsmasq.push(format!("--host-record={record}"));
        }
        dnsmasq.extend(setup.dns_extra.iter().cloned());
        let args: Vec<&str> = dnsmasq.iter().map(String::as_str).collect();
        self.spawn(&r, &args, "dnsmasq.log")?;
        self.wait_until("dnsmasq listening", |lab| {
            lab.exec(&lab.router, &["ss", "-Hlnu", "sport = :53"])
                .is_ok_and(|o| !o.trim().is_empty())
                && lab
                    .exec(&lab.router, &["ss", "-Hlnt", "sport = :53"])
                    .is_ok_and(|o| !o.trim().is_empty())
        })
    }

    /// Loads the scenario's rulesets in the host namespace, then runs its host and router
    /// commands.
    pub(super) fn apply_scenario(&self, setup: &Setup) -> Result<(), String> {
        let (h, r) = (&self.host, &self.router);
        for (n, (loader, content)) in setup.rulesets.iter().enumerate() {
            let file = self.dir.join(format!("ruleset-{n}.rules"));
            std::fs::write(&file, content).map_err(|e| e.to_string())?;
            let file = file.to_string_lossy().into_owned();
            let mut args: Vec<&str> = loader.split_whitespace().collect();
            args.push(&file);
            self.exec(h, &args)?;
        }
        for (ns, cmds) in [(h, &setup.host_commands), (r, &setup.router_commands)] {
            for cmd in cmds {
                let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
                self.exec(ns, &args)?;
            }
        }
        Ok(())
    }

    /// Makes the webroot and, when the scenario has one, starts nginx serving it in the host
    /// namespace.
    pub(super) fn start_nginx(&mut self, setup: &Setup) -> Result<(), String> {
        let h = self.host.clone();
        // The webroot exists whether or not nginx serves it: lego writes the token there.
        std::fs::create_dir_all(self.dir.join("www/.well-known/acme-challenge"))
            .map_err(|e| e.to_string())?;
        if setup.nginx {
            let conf = self.nginx_conf(&setup.listen, &setup.nginx_extra)?;
            let conf = conf.to_string_lossy().into_owned();
            self.spawn(&h, &["nginx", "-c", &conf], "nginx.log")?;
            self.wait_until("nginx listening", |lab| {
                lab.exec(&lab.host, &["ss", "-Hltn", "sport = :80"])
                    .is_ok_and(|o| !o.trim().is_empty())
            })?;
        }
        Ok(())
    }

    fn nginx_conf(&self, listen: &[String], extra: &[String]) -> Result<PathBuf, String> {
        let d = self.dir.display();
        let www = self.dir.join("www");
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/cb;\n  proxy_temp_path {d}/px;\n  fastcgi_temp_path {d}/fc;\n  uwsgi_temp_path {d}/uw;\n  scgi_temp_path {d}/sc;\n\
               server {{\n    {}\n    server_name _;\n    root {};\n    {}\n    location / {{ try_files $uri =404; }}\n  }}\n}}\n",
            listen.join("\n    "),
            www.display(),
            extra.join("\n    ")
        );
        let path = self.dir.join("nginx.conf");
        std::fs::write(&path, conf).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// Runs acme-doctor inside a namespace of this lab, against the lab's resolver, with the
    /// lab's documentation addresses standing in for public ones.
    pub fn acme_doctor(&self, ns: &str, label: &str, extra: &[&str]) -> Run {
        let mut args = vec!["--allow-reserved"];
        args.extend_from_slice(extra);
        self.acme_doctor_as_ca_sees_it(ns, label, &args)
    }

    /// Like [`Lab::acme_doctor`] without `--allow-reserved`: the lab's addresses count as the
    /// reserved addresses they are.
    pub fn acme_doctor_as_ca_sees_it(&self, ns: &str, label: &str, extra: &[&str]) -> Run {
        let mut args: Vec<String> = capture_args(label);
        args.extend(extra.iter().map(|s| s.to_string()));
        run_command(&self.command_line(ns, &[], BIN, &args))
    }

    /// The command line that runs acme-doctor in a namespace of the lab, for tools that
    /// start it themselves (the benchmark measures it).
    pub fn acme_doctor_command(&self, ns: &str, extra: &[&str]) -> Vec<String> {
        let extra = allow_reserved(extra);
        self.command_line(ns, &[], BIN, &extra)
    }

    /// Runs acme-doctor in a namespace as an unprivileged user (nobody), from a copy of the
    /// binary that user can read.
    pub fn acme_doctor_unprivileged(&self, ns: &str, extra: &[&str]) -> Run {
        use std::os::unix::fs::PermissionsExt;
        let copy = self.dir.join("acme-doctor");
        std::fs::copy(BIN, &copy).expect("copy the binary into the lab");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        let copy = copy.to_string_lossy().into_owned();
        let extra = allow_reserved(extra);
        let setpriv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        let line = self.command_line(ns, &setpriv, &copy, &extra);
        // A thread of this test process may fork while the copy is still open for writing;
        // its child then holds the file until it execs, and executing the copy fails with
        // ETXTBSY for that moment. Try again rather than fail on the harness's own race.
        let mut run = run_command(&line);
        for _ in 0..20 {
            if !run.stderr.contains("Text file busy") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            run = run_command(&line);
        }
        run
    }

    /// `ip netns exec NS [WRAPPER…] PROGRAM --resolver … --timeout 2s EXTRA…`: how every
    /// acme-doctor run in the lab starts.
    fn command_line(
        &self,
        ns: &str,
        wrapper: &[&str],
        program: &str,
        extra: &[String],
    ) -> Vec<String> {
        ["ip", "netns", "exec", ns]
            .into_iter()
            .chain(wrapper.iter().copied())
            .chain([program, "--resolver", RESOLVER, "--timeout", "2s"])
            .map(str::to_string)
            .chain(extra.iter().cloned())
            .collect()
    }
}

/// The lab's documentation addresses stand in for public ones.
fn allow_reserved(extra: &[&str]) -> Vec<String> {
    std::iter::once("--allow-reserved")
        .chain(extra.iter().copied())
        .map(str::to_string)
        .collect()
}

fn run_command(args: &[String]) -> Run {
    Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .expect("run acme-doctor in the lab")
        .into()
}
