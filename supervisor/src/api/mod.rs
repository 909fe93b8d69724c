//! The supervisor's D-Bus API: names and paths ([`SERVICE`], [`app_path`]), the daemon's side
//! ([`server`], with its access control in [`access`]) and the client `davit app` uses
//! ([`client`]). See supervisor/README.md, "The D-Bus API".

pub mod access;
pub mod client;
pub mod server;

pub const SERVICE: &str = "org.davit.Supervisor1";
pub const MANAGER_PATH: &str = "/org/davit/Supervisor1";
pub const MANAGER_IFACE: &str = "org.davit.Supervisor1";
pub const APP_IFACE: &str = "org.davit.Supervisor1.App";
/// Releases (at [`MANAGER_PATH`]): where an install stands, `Install`, `Confirm`.
pub const RELEASE_IFACE: &str = "org.davit.Supervisor1.Release";
pub const DEFAULT_SOCKET: &str = "/run/davit/supervisor.sock";

/// The object path of an app: its name escaped as systemd escapes unit names in paths
/// (bytes outside `[A-Za-z0-9]` become `_` and two lower-case hex digits).
pub fn app_path(name: &str) -> String {
    let mut p = format!("{MANAGER_PATH}/app/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    p
}

/// One row of `List`: name, state, health, pid, restarts, last exit, reason.
pub type Summary = (String, String, String, u32, u32, String, String);

#[cfg(test)]
mod tests {
    #[test]
    fn app_paths_are_valid_object_paths() {
        assert_eq!(super::app_path("web"), "/org/davit/Supervisor1/app/web");
        assert_eq!(
            super::app_path("my-app.2"),
            "/org/davit/Supervisor1/app/my_2dapp_2e2"
        );
        for name in ["a_b", "x+y", "..a"] {
            assert!(zbus::zvariant::ObjectPath::try_from(super::app_path(name)).is_ok());
        }
    }
}
