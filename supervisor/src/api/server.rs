//! The daemon's side of the API: the same objects on the bus and on every peer-to-peer
//! connection of the socket, and PropertiesChanged on all of them when an app changes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::net::UnixListener;
use tokio::sync::mpsc;
use zbus::message::Header;
use zbus::zvariant::Value;
use zbus::{Connection, fdo, interface};

use super::access::Access;
use super::{APP_IFACE, MANAGER_PATH, RELEASE_IFACE, SERVICE, Summary, app_path};
use crate::daemon::release::{self, ReleaseStatus};
use crate::daemon::{AppStatus, Bus, DaemonError, Event, Supervisor};

/// The API while it is served; dropping it stops serving and removes the socket.
pub struct Api {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl Drop for Api {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(s) = &self.socket {
            let _ = std::fs::remove_file(s);
        }
    }
}

/// Every connection with the access rules of its caller (a socket peer's own credentials).
type Connections = Arc<Mutex<Vec<(Connection, Arc<Access>)>>>;

pub async fn serve(
    sup: Arc<Supervisor>,
    mut events: mpsc::UnboundedReceiver<Event>,
) -> Result<Api, DaemonError> {
    let access = Arc::new(Access::new(sup.opts.group.as_deref()).map_err(DaemonError::Usage)?);
    let conns: Connections = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();

    let bus = match &sup.opts.bus {
        Bus::None => None,
        Bus::System => match zbus::connection::Builder::system() {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::warn!("no system bus ({e}): serving the socket only");
                None
            }
        },
        Bus::Address(a) => Some(zbus::connection::Builder::address(a.as_str())?),
    };
    if let Some(builder) = bus {
        let built = async {
            builder
                .name(SERVICE)?
                .serve_at(MANAGER_PATH, Manager::new(&sup, &access))?
                .serve_at(MANAGER_PATH, ReleaseObject::new(&sup, &access))?
                .build()
                .await
        }
        .await;
        match built {
            Ok(conn) => {
                tracing::info!("serving {SERVICE} on the bus");
                conns.lock().unwrap().push((conn, access.clone()));
            }
            Err(e) if sup.opts.bus == Bus::System => {
                tracing::warn!("system bus: {e}: serving the socket only");
            }
            Err(e) => return Err(e.into()),
        }
    }

    let mut socket = None;
    if let Some(path) = &sup.opts.socket {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
        }
        // A socket left by a daemon that was killed; a live daemon holds the state lock.
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .map_err(|e| DaemonError::io(format!("listening on {}", path.display()), e))?;
        // Reading is open to every local user; writes are checked per call.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| DaemonError::io(format!("chmod {}", path.display()), e))?;
        socket = Some(path.clone());
        let (sup, access, conns) = (sup.clone(), access.clone(), conns.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (sup, access, conns) = (sup.clone(), access.clone(), conns.clone());
                // The handshake runs beside the accept loop: a slow client holds up no one.
                tokio::spawn(async move {
                    // The caller's credentials, groups included, from the socket itself: zbus
                    // looks groups up in /etc/group, which misses a process's own
                    // supplementary groups.
                    let access = Arc::new(access.for_peer(&stream));
                    match peer(stream, &sup, &access).await {
                        Ok(conn) => conns.lock().unwrap().push((conn, access)),
                        Err(e) => tracing::debug!("API client: {e}"),
                    }
                });
            }
        }));
    }

    {
        let (sup, conns) = (sup.clone(), conns.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let list: Vec<(Connection, Arc<Access>)> = conns.lock().unwrap().clone();
                let mut dead = Vec::new();
                for (i, (conn, access)) in list.iter().enumerate() {
                    let ok = match &e {
                        Event::Added(name) => add(conn, &sup, access, name).await,
                        Event::Removed(name) => conn
                            .object_server()
                            .remove::<AppObject, _>(app_path(name))
                            .await
                            .map(|_| ()),
                        Event::Changed(name) => match sup.status(name) {
                            Some(s) => changed(conn, &s).await,
                            None => Ok(()),
                        },
                        Event::Release => release_changed(conn, &sup.release()).await,
                    };
                    if ok.is_err() {
                        dead.push(i);
                    }
                }
                if !dead.is_empty() {
                    // Clients that hung up. Connections are only ever appended, and only this
                    // task removes any: the indices still hold.
                    let mut i = 0;
                    conns.lock().unwrap().retain(|_| {
                        let keep = !dead.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
        }));
    }
    Ok(Api { tasks, socket })
}

async fn peer(
    stream: tokio::net::UnixStream,
    sup: &Arc<Supervisor>,
    access: &Arc<Access>,
) -> zbus::Result<Connection> {
    let conn = zbus::connection::Builder::unix_stream(stream)
        .server(zbus::Guid::generate())?
        .p2p()
        .serve_at(MANAGER_PATH, Manager::new(sup, access))?
        .serve_at(MANAGER_PATH, ReleaseObject::new(sup, access))?
        .serve_at("/org/freedesktop/DBus", PeerBus)?
        .build()
        .await?;
    let names: Vec<String> = sup.apps.lock().unwrap().keys().cloned().collect();
    for name in names {
        add(&conn, sup, access, &name).await?;
    }
    Ok(conn)
}

async fn add(
    conn: &Connection,
    sup: &Arc<Supervisor>,
    access: &Arc<Access>,
    name: &str,
) -> zbus::Result<()> {
    conn.object_server()
        .at(
            app_path(name),
            AppObject {
                sup: sup.clone(),
                access: access.clone(),
                name: name.to_owned(),
            },
        )
        .await
        .map(|_| ())
}

/// PropertiesChanged with every property's current value: cheap, and a client never has to
/// ask again.
async fn changed(conn: &Connection, s: &AppStatus) -> zbus::Result<()> {
    let mut props: HashMap<&str, Value<'_>> = HashMap::new();
    props.insert("State", Value::from(s.state.as_str()));
    props.insert("Health", Value::from(s.health));
    props.insert("Pid", Value::from(s.pid));
    props.insert("Restarts", Value::from(s.restarts));
    props.insert("LastExit", Value::from(s.last_exit.as_str()));
    props.insert("Reason", Value::from(s.reason.as_str()));
    props.insert("Enabled", Value::from(s.enabled));
    props.insert("StatusText", Value::from(s.status_text.as_str()));
    props.insert("Since", Value::from(s.since));
    let invalidated: Vec<&str> = Vec::new();
    conn.emit_signal(
        None::<()>,
        app_path(&s.name).as_str(),
        "org.freedesktop.DBus.Properties",
        "PropertiesChanged",
        &(APP_IFACE, props, invalidated),
    )
    .await
}

async fn release_changed(conn: &Connection, r: &ReleaseStatus) -> zbus::Result<()> {
    let mut props: HashMap<String, Value<'_>> = HashMap::new();
    for k in release::KEYS {
        props.insert(capitalized(k), Value::from(r.get(k)));
    }
    props.insert("Confirmed".into(), Value::from(r.confirmed.clone()));
    let invalidated: Vec<&str> = Vec::new();
    conn.emit_signal(
        None::<()>,
        MANAGER_PATH,
        "org.freedesktop.DBus.Properties",
        "PropertiesChanged",
        &(RELEASE_IFACE, props, invalidated),
    )
    .await
}

fn capitalized(k: &str) -> String {
    let mut c = k.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

struct Manager {
    sup: Arc<Supervisor>,
    access: Arc<Access>,
}

impl Manager {
    fn new(sup: &Arc<Supervisor>, access: &Arc<Access>) -> Manager {
        Manager {
            sup: sup.clone(),
            access: access.clone(),
        }
    }
}

#[interface(name = "org.davit.Supervisor1")]
impl Manager {
    /// Every app: name, state, health, pid, restarts, last exit, reason.
    async fn list(&self) -> Vec<Summary> {
        self.sup
            .list()
            .into_iter()
            .map(|s| {
                (
                    s.name,
                    s.state.as_str().to_owned(),
                    s.health.to_owned(),
                    s.pid,
                    s.restarts,
                    s.last_exit,
                    s.reason,
                )
            })
            .collect()
    }

    /// Re-reads one app's file, or every file for "".
    async fn reload(
        &self,
        name: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.access.check(conn, &hdr, "Reload").await?;
        let only = (!name.is_empty()).then_some(name);
        if let Some(n) = only {
            crate::app::check_name(n)
                .map_err(|e| fdo::Error::InvalidArgs(format!("app name {n:?} {e}")))?;
        }
        self.sup.reload(only, false).await;
        Ok(())
    }
}

/// Releases: what the update engine reports of an install (it runs as a process of its own),
/// and installs and confirmations asked for over the API.
struct ReleaseObject {
    sup: Arc<Supervisor>,
    access: Arc<Access>,
}

impl ReleaseObject {
    fn new(sup: &Arc<Supervisor>, access: &Arc<Access>) -> ReleaseObject {
        ReleaseObject {
            sup: sup.clone(),
            access: access.clone(),
        }
    }

    fn get(&self, key: &str) -> String {
        self.sup.release().get(key)
    }
}

#[interface(name = "org.davit.Supervisor1.Release")]
impl ReleaseObject {
    /// Installs the release at `path` (a directory or tar on this board) with `davit release
    /// install`, run by the daemon; `flags`: "retry", "force", "factory". Returns once it
    /// runs: the properties follow it.
    async fn install(
        &self,
        path: &str,
        flags: Vec<String>,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.access.check_root(conn, &hdr, "Install").await?;
        self.sup
            .install_release(std::path::Path::new(path), &flags)
            .map_err(fdo::Error::InvalidArgs)
    }

    /// Confirms the release being installed, which waits for this when its release.toml
    /// says `confirm = "call"`.
    async fn confirm(
        &self,
        version: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.access.check(conn, &hdr, "Confirm").await?;
        self.sup
            .confirm_release(version)
            .map_err(fdo::Error::Failed)
    }

    /// The installer's progress: keys phase, version, message, current, previous, factory.
    async fn report(
        &self,
        fields: HashMap<String, String>,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.access.check_root(conn, &hdr, "Report").await?;
        self.sup
            .report_release(fields.into_iter().collect())
            .map_err(fdo::Error::InvalidArgs)
    }

    /// starting, preparing, switching, confirming, watching, rolling-back; then installed,
    /// rolled-back or failed ("" before any install).
    #[zbus(property)]
    fn phase(&self) -> String {
        self.get("phase")
    }

    /// The release being installed, or the last one.
    #[zbus(property)]
    fn version(&self) -> String {
        self.get("version")
    }

    /// The installer's last word: a step, or why it failed.
    #[zbus(property)]
    fn message(&self) -> String {
        self.get("message")
    }

    #[zbus(property)]
    fn current(&self) -> String {
        self.get("current")
    }

    #[zbus(property)]
    fn previous(&self) -> String {
        self.get("previous")
    }

    #[zbus(property)]
    fn factory(&self) -> String {
        self.get("factory")
    }

    /// The version a `Confirm` call confirmed.
    #[zbus(property)]
    fn confirmed(&self) -> String {
        self.sup.release().confirmed
    }
}

struct AppObject {
    sup: Arc<Supervisor>,
    access: Arc<Access>,
    name: String,
}

impl AppObject {
    fn status(&self) -> fdo::Result<AppStatus> {
        self.sup
            .status(&self.name)
            .ok_or_else(|| fdo::Error::UnknownObject(format!("no app {}", self.name)))
    }

    async fn command(
        &self,
        conn: &Connection,
        hdr: &Header<'_>,
        what: &str,
        make: impl FnOnce(crate::daemon::Reply) -> crate::daemon::Command,
    ) -> fdo::Result<()> {
        self.access.check(conn, hdr, what).await?;
        self.sup
            .ask(&self.name, make)
            .await
            .map_err(fdo::Error::Failed)
    }
}

#[interface(name = "org.davit.Supervisor1.App")]
impl AppObject {
    async fn start(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Start", crate::daemon::Command::Start)
            .await
    }

    async fn stop(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Stop", crate::daemon::Command::Stop)
            .await
    }

    async fn restart(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Restart", crate::daemon::Command::Restart)
            .await
    }

    async fn kill(
        &self,
        signal: &str,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.access.check(conn, &hdr, "Kill").await?;
        let sig = crate::app::Signal::parse(signal)
            .and_then(|s| nix::sys::signal::Signal::try_from(s.number()).ok())
            .ok_or_else(|| {
                fdo::Error::InvalidArgs(format!(
                    "{signal:?} is not a signal (use a name such as SIGTERM, or a number)"
                ))
            })?;
        self.sup
            .ask(&self.name, |r| crate::daemon::Command::Kill(sig, r))
            .await
            .map_err(fdo::Error::Failed)
    }

    async fn freeze(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Freeze", crate::daemon::Command::Freeze)
            .await
    }

    async fn thaw(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Thaw", crate::daemon::Command::Thaw)
            .await
    }

    async fn enable(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Enable", |r| {
            crate::daemon::Command::SetEnabled(true, r)
        })
        .await
    }

    async fn disable(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> fdo::Result<()> {
        self.command(conn, &hdr, "Disable", |r| {
            crate::daemon::Command::SetEnabled(false, r)
        })
        .await
    }

    /// The last `tail` lines of the app's log (0: all that is kept).
    async fn logs(&self, tail: u32) -> fdo::Result<String> {
        self.sup
            .logs(&self.name, tail as usize)
            .map_err(fdo::Error::Failed)
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.name.clone()
    }

    #[zbus(property)]
    fn state(&self) -> fdo::Result<String> {
        Ok(self.status()?.state.as_str().to_owned())
    }

    #[zbus(property)]
    fn health(&self) -> fdo::Result<String> {
        Ok(self.status()?.health.to_owned())
    }

    #[zbus(property)]
    fn pid(&self) -> fdo::Result<u32> {
        Ok(self.status()?.pid)
    }

    #[zbus(property)]
    fn restarts(&self) -> fdo::Result<u32> {
        Ok(self.status()?.restarts)
    }

    #[zbus(property)]
    fn last_exit(&self) -> fdo::Result<String> {
        Ok(self.status()?.last_exit)
    }

    #[zbus(property)]
    fn reason(&self) -> fdo::Result<String> {
        Ok(self.status()?.reason)
    }

    #[zbus(property)]
    fn enabled(&self) -> fdo::Result<bool> {
        Ok(self.status()?.enabled)
    }

    #[zbus(property)]
    fn status_text(&self) -> fdo::Result<String> {
        Ok(self.status()?.status_text)
    }

    /// When State last changed, µs since the epoch.
    #[zbus(property)]
    fn since(&self) -> fdo::Result<u64> {
        Ok(self.status()?.since)
    }

    /// The bundle of the latest run: which version of the app runs.
    #[zbus(property)]
    fn bundle(&self) -> fdo::Result<String> {
        Ok(self.status()?.bundle)
    }

    /// The container of the latest run (`app.NAME`, or `app2.NAME` after a hand-over).
    #[zbus(property)]
    fn container(&self) -> fdo::Result<String> {
        Ok(self.status()?.container)
    }

    #[zbus(property)]
    fn memory_in_use(&self) -> u64 {
        self.sup.memory(&self.name)
    }
}

/// Just enough of the bus's own interface for busctl and gdbus, which greet every connection
/// with `Hello` (and add match rules), to talk to the socket as they would to a bus.
struct PeerBus;

#[interface(name = "org.freedesktop.DBus")]
impl PeerBus {
    fn hello(&self) -> String {
        ":1.1".into()
    }

    fn add_match(&self, _rule: &str) {}

    fn remove_match(&self, _rule: &str) {}

    fn get_name_owner(&self, name: &str) -> fdo::Result<String> {
        if name == SERVICE {
            Ok(":1.0".into())
        } else {
            Err(fdo::Error::NameHasNoOwner(format!(
                "{name}: this socket serves {SERVICE} only"
            )))
        }
    }

    fn name_has_owner(&self, name: &str) -> bool {
        name == SERVICE
    }
}
