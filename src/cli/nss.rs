//! Name lookups in the static binary. A statically linked glibc still loads NSS modules
//! (`libnss_systemd.so.2`, LDAP, ...) with dlopen when nsswitch.conf names them, and those
//! modules expect the shared libc of their own glibc version: the process crashes. zbus looks
//! up every peer of the daemon's socket (getpwuid_r, getgrouplist), so one connection from a
//! user missing from /etc/group killed the daemon with SIGSEGV on Debian's default
//! nsswitch.conf. The static binary therefore resolves users and groups from /etc/passwd and
//! /etc/group only (as runc reads a container's files itself), and hosts from /etc/hosts and
//! DNS, the two services built into libc.a.

/// Confines glibc's lookups to the services built into the binary. Call before any thread.
#[cfg(all(target_env = "gnu", target_feature = "crt-static"))]
pub fn confine_static_lookups() {
    use std::ffi::{CStr, c_char, c_int};
    unsafe extern "C" {
        fn __nss_configure_lookup(db: *const c_char, service_line: *const c_char) -> c_int;
    }
    let files: &CStr = c"files";
    for (db, services) in [
        (c"passwd", files),
        (c"group", files),
        (c"initgroups", files),
        (c"shadow", files),
        (c"hosts", c"files dns"),
    ] {
        // SAFETY: both arguments are NUL-terminated static strings; glibc copies what it
        // keeps, and no other thread runs yet to race its NSS configuration.
        unsafe { __nss_configure_lookup(db.as_ptr(), services.as_ptr()) };
    }
}

/// A dynamically linked build uses the system's own libc and modules as configured.
#[cfg(not(all(target_env = "gnu", target_feature = "crt-static")))]
pub fn confine_static_lookups() {}
