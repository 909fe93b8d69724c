// Static libseccomp smoke test: links Debian's libseccomp.a for the target,
// installs a filter that makes mkdir/mkdirat fail with EOPNOTSUPP and checks
// that the guest kernel enforces it.  Built by toolchain.sh, run by selftest.sh.
use std::ffi::{c_char, c_int, c_uint, c_void};

#[repr(C)]
struct ScmpVersion {
    major: c_uint,
    minor: c_uint,
    micro: c_uint,
}

#[link(name = "seccomp", kind = "static")]
extern "C" {
    fn seccomp_version() -> *const ScmpVersion;
    fn seccomp_init(def_action: u32) -> *mut c_void;
    fn seccomp_syscall_resolve_name(name: *const c_char) -> c_int;
    fn seccomp_rule_add_array(ctx: *mut c_void, action: u32, syscall: c_int, arg_cnt: c_uint, args: *const c_void) -> c_int;
    fn seccomp_load(ctx: *const c_void) -> c_int;
    fn seccomp_release(ctx: *mut c_void);
}

const SCMP_ACT_ALLOW: u32 = 0x7fff_0000;
const EOPNOTSUPP: i32 = 95;
const fn scmp_act_errno(e: i32) -> u32 {
    0x0005_0000 | (e as u32 & 0xffff)
}

fn main() {
    let v = unsafe { &*seccomp_version() };
    println!("libseccomp {}.{}.{} (static), arch={}", v.major, v.minor, v.micro, std::env::consts::ARCH);
    let ctx = unsafe { seccomp_init(SCMP_ACT_ALLOW) };
    assert!(!ctx.is_null(), "seccomp_init failed");
    let mut rules = 0;
    for name in [c"mkdir", c"mkdirat"] {
        let nr = unsafe { seccomp_syscall_resolve_name(name.as_ptr()) };
        if nr < 0 {
            continue; // not a syscall on this arch (aarch64 has no mkdir)
        }
        let rc = unsafe { seccomp_rule_add_array(ctx, scmp_act_errno(EOPNOTSUPP), nr, 0, std::ptr::null()) };
        assert_eq!(rc, 0, "seccomp_rule_add {name:?} failed: {rc}");
        rules += 1;
    }
    assert!(rules > 0, "no mkdir syscall resolved");
    let rc = unsafe { seccomp_load(ctx) };
    unsafe { seccomp_release(ctx) };
    assert_eq!(rc, 0, "seccomp_load failed: {rc}");
    match std::fs::create_dir("/tmp/seccomp-smoke-dir") {
        Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) => println!("seccomp filter enforced: mkdir -> {e}"),
        other => {
            eprintln!("seccomp filter NOT enforced: {other:?}");
            std::process::exit(1);
        }
    }
}
