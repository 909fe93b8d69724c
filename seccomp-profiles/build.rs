//! Compiles davit.json (OCI `linux.seccomp` format) to BPF for the target with seccompiler, so
//! that davit's daemon installs a ready filter at start. Two programs: one that kills the
//! process on a call outside the profile, and one that logs it instead.

use std::collections::BTreeSet;
use std::path::Path;

use seccompiler::TargetArch;
use serde_json::{Value, json};

fn main() {
    println!("cargo:rerun-if-changed=davit.json");
    println!("cargo:rerun-if-changed=default.json");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => TargetArch::x86_64,
        Ok("aarch64") => TargetArch::aarch64,
        // armv7: libseccomp compiles the profile at start (src/lib.rs).
        _ => return,
    };
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let profile: Value = serde_json::from_slice(&std::fs::read("davit.json").expect("davit.json"))
        .unwrap_or_else(|e| panic!("seccomp-profiles/davit.json: {e}"));
    // The default profile must parse too: a broken one should fail the build, not `davit spec`.
    serde_json::from_slice::<Value>(&std::fs::read("default.json").expect("default.json"))
        .unwrap_or_else(|e| panic!("seccomp-profiles/default.json: {e}"));

    let names = allowed_names(&profile);
    // The profile lists names for every arch; keep those this arch has (seccompiler refuses an
    // unknown name, and libseccomp skips one).
    let known: Vec<&String> = names.iter().filter(|n| known_on(n, arch)).collect();
    assert!(
        known.len() > 50,
        "seccomp-profiles/davit.json: only {} of {} syscalls exist on {arch:?}",
        known.len(),
        names.len()
    );
    for (mode, mismatch) in [("enforce", "kill_process"), ("log", "log")] {
        let filter = json!({"davit": {
            "mismatch_action": mismatch,
            "match_action": "allow",
            "filter": known.iter().map(|n| json!({"syscall": n})).collect::<Vec<_>>(),
        }});
        let mut map = seccompiler::compile_from_json(filter.to_string().as_bytes(), arch)
            .unwrap_or_else(|e| panic!("seccomp-profiles/davit.json: {e}"));
        let program = map.remove("davit").expect("the filter just compiled");
        let raw: Vec<u8> = program
            .iter()
            .flat_map(|f| {
                let mut r = Vec::with_capacity(8);
                r.extend_from_slice(&f.code.to_le_bytes());
                r.push(f.jt);
                r.push(f.jf);
                r.extend_from_slice(&f.k.to_le_bytes());
                r
            })
            .collect();
        std::fs::write(Path::new(&out).join(format!("davit-{mode}.bpf")), raw)
            .expect("write the compiled filter");
    }
}

/// Every syscall name the profile allows unconditionally.
fn allowed_names(profile: &Value) -> BTreeSet<String> {
    let rules = profile["syscalls"]
        .as_array()
        .unwrap_or_else(|| panic!("seccomp-profiles/davit.json: syscalls: not an array"));
    let mut names = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let action = rule["action"].as_str().unwrap_or_default();
        assert!(
            action == "SCMP_ACT_ALLOW",
            "seccomp-profiles/davit.json: syscalls[{i}].action: {action:?}, but davit's own \
             profile only allows (anything else is the default action)"
        );
        assert!(
            rule.get("args")
                .is_none_or(|a| a.as_array().is_none_or(|a| a.is_empty())),
            "seccomp-profiles/davit.json: syscalls[{i}].args: argument filters are not \
             supported in davit's own profile"
        );
        for n in rule["names"].as_array().into_iter().flatten() {
            names.insert(n.as_str().expect("syscall names are strings").to_owned());
        }
    }
    names
}

fn known_on(name: &str, arch: TargetArch) -> bool {
    let probe = json!({"p": {"mismatch_action": "allow", "match_action": "log",
                             "filter": [{"syscall": name}]}});
    seccompiler::compile_from_json(probe.to_string().as_bytes(), arch).is_ok()
}
